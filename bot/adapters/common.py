"""What every chat adapter does alike: answer a command even when the core fails, send each
reply where it belongs, and report a direct message the platform refused."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from bot.core import Command, Delivered, DeliveryPort, Outgoing, platform_of
from bot.core.i18n import t

log = logging.getLogger("kpibot.adapters")

_CJK = re.compile(r"[\u4e00-\u9fff]")

Handle = Callable[[Command], Awaitable[list[Outgoing]]]
Send = Callable[[Outgoing], Awaitable[Delivered]]
Where = Literal["here", "direct", "elsewhere"]


def guess_locale(text: str) -> str:
    """``zh`` when ``text`` has Chinese characters, else ``en``: the language of what an adapter
    writes before any deal says which one to use."""
    return "zh" if _CJK.search(text) else "en"


def failure_replies(cmd: Command) -> list[Outgoing]:
    """What the person is told when the bot could not answer ``cmd`` at all: it was not saved
    (they may send it again; a resent report is never counted twice)."""
    text = t("router.storage_failed", guess_locale(cmd.text))
    return [Outgoing(to=cmd.chat, text=text, kind="error")]


async def answer(handle: Handle, cmd: Command) -> list[Outgoing]:
    """The core's replies to ``cmd``, or :func:`failure_replies` when it raises.

    The core turns user and storage errors into replies itself; what gets out is a bug, and
    the person must still learn that the command did not go through. The core runs in a task
    of its own: each of its many awaits (a report makes about forty) then resumes the core's
    frames only, not also the platform SDK's dispatch and the adapter's frames above it."""
    try:
        return await asyncio.ensure_future(handle(cmd))
    except Exception:
        log.exception("command failed", extra={"chat": cmd.chat})
        return failure_replies(cmd)


def where(reply: Outgoing, cmd: Command) -> Where:
    """Where a reply to ``cmd`` goes.

    ``here``: the command's own chat, as the answer to it (under the command, or through the
    platform's way of answering in place); ``direct``: a direct message to a person on the
    command's platform, reported in the chat when the platform refuses it; ``elsewhere``:
    another chat, possibly on another platform (the other side's channel), through the core."""
    if reply.to == cmd.chat:
        return "here"
    if reply.to.startswith("dm:") and platform_of(reply.to[3:]) == platform_of(cmd.chat):
        return "direct"
    return "elsewhere"


async def send_replies(
    replies: Sequence[Outgoing],
    cmd: Command,
    *,
    here: Callable[[Outgoing], Awaitable[Delivered | None]],
    port: DeliveryPort,
    deliver: Send,
    who: Callable[[str], str | None],
) -> None:
    """Send a command's replies in order, each as :func:`where` says.

    Args:
        replies: The core's answers to ``cmd``.
        cmd: The command they answer.
        here: Answers in the command's chat; ``None`` when it could not (the reply then goes
            through ``deliver``).
        port: The platform's delivery port, for direct messages.
        deliver: Sends anywhere (``core.deliver``).
        who: A person's display name (``dm:``-less identity), if known.
    """
    for reply in replies:
        route = where(reply, cmd)
        delivered: Delivered | None = None
        if route == "here":
            delivered = await here(reply)
        elif route == "direct":
            person = reply.to.removeprefix("dm:")
            delivered = await send_dm_or_report(port, reply, cmd.chat, who=who(person))
        if delivered is None:
            delivered = await deliver(reply)
        if not delivered.ok:
            log.warning("answer not delivered", extra={"to": reply.to, "error": delivered.error})


async def send_dm_or_report(
    port: DeliveryPort, msg: Outgoing, fallback_chat: str, *, who: str | None = None
) -> Delivered:
    """Send a direct message; when the platform refuses it, say so in ``fallback_chat``.

    Telegram refuses a bot's first message to a person who never started it, Slack one to a
    person the app may not reach. Failing silently would hide the message, so the chat is told
    that the person could not be reached, with the person mentioned and the message itself.
    (The scheduler does the same for escalations through its outbox; this is for direct
    messages outside it, such as a command's answer.)

    Args:
        port: The delivery port of the message's platform.
        msg: The direct message (``to`` is ``dm:<person>``).
        fallback_chat: Where to report a refusal.
        who: The person's display name (defaults to their identity).

    Returns:
        The direct message's result when it went out or failed for another reason; otherwise
        the report's message id, with ``ok=False, error="dm_refused"`` so callers can count it.
    """
    delivered = await port.send(msg)
    if delivered.ok or delivered.error != "dm_refused":
        return delivered
    person = msg.to.removeprefix("dm:")
    report = Outgoing(
        to=fallback_chat,
        text=t("escalation.dm_refused", guess_locale(msg.text), who=who or person, text=msg.text),
        kind=msg.kind,
        files=msg.files,
        mentions=(person,) if platform_of(person) == platform_of(fallback_chat) else (),
    )
    reported = await port.send(report)
    return Delivered(ok=False, message_id=reported.message_id, error="dm_refused")
