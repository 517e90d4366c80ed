"""What the chat adapters share (bot/adapters/common.py): where a reply goes, what a failure
says, and a refused direct message reported in the chat. A hand-written port records sends."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bot.adapters.common import answer, failure_replies, guess_locale, send_replies, where
from bot.core import UNPACED, Command, Delivered, Outgoing, PortLimits
from bot.core.i18n import t

AT = dt.datetime(2026, 11, 20, 18, tzinfo=dt.UTC)


def command(text: str = "/report gmv 1", chat: str = "telegram:-100") -> Command:
    return Command(chat=chat, user="telegram:5001", text=text, at=AT, message_id="1")


@dataclass
class Port:
    """Records what it sends; refuses direct messages to ``refused`` people."""

    platform: str = "telegram"
    limits: PortLimits = UNPACED
    refused: set[str] = field(default_factory=set)
    sent: list[Outgoing] = field(default_factory=list)

    async def send(self, message: Outgoing) -> Delivered:
        if message.to.removeprefix("dm:") in self.refused:
            return Delivered(ok=False, error="dm_refused")
        self.sent.append(message)
        return Delivered(ok=True, message_id=f"m{len(self.sent)}")


def test_a_reply_goes_here_to_a_person_or_elsewhere() -> None:
    cmd = command()
    assert where(Outgoing(to="telegram:-100", text="x"), cmd) == "here"
    assert where(Outgoing(to="dm:telegram:7", text="x"), cmd) == "direct"
    assert where(Outgoing(to="dm:slack:U7", text="x"), cmd) == "elsewhere"
    assert where(Outgoing(to="slack:C1", text="x"), cmd) == "elsewhere"
    assert where(Outgoing(to="telegram:-200", text="x"), cmd) == "elsewhere"


async def test_replies_go_each_its_way_in_order() -> None:
    """In place first; a refused in-place answer falls back to the core; a refused direct
    message is reported in the chat with the person mentioned; another chat goes through the
    core."""
    port, here, delivered = Port(refused={"telegram:7"}), [], []

    async def answer_here(reply: Outgoing) -> Delivered | None:
        here.append(reply.text)
        return None if reply.text == "too big" else Delivered(ok=True)

    async def deliver(reply: Outgoing) -> Delivered:
        delivered.append(reply.text)
        return Delivered(ok=True)

    replies = [
        Outgoing(to="telegram:-100", text="Saved"),
        Outgoing(to="telegram:-100", text="too big"),
        Outgoing(to="dm:telegram:7", text="请看一下"),
        Outgoing(to="slack:C1", text="FYI"),
    ]
    await send_replies(
        replies, command(), here=answer_here, port=port, deliver=deliver, who=lambda p: "Chen"
    )
    assert here == ["Saved", "too big"]
    assert delivered == ["too big", "FYI"]
    [report] = port.sent
    assert report.to == "telegram:-100" and report.mentions == ("telegram:7",)
    assert report.text == t("escalation.dm_refused", "zh", who="Chen", text="请看一下")


async def test_a_failing_core_is_answered_not_saved_in_the_writers_language() -> None:
    async def broken(cmd: Command) -> list[Outgoing]:
        raise RuntimeError("boom")

    [english] = await answer(broken, command())
    [chinese] = await answer(broken, command("/report 成交额 1"))
    assert (english.kind, english.to) == ("error", "telegram:-100")
    assert english.text == t("router.storage_failed", "en")
    assert chinese.text == t("router.storage_failed", "zh")
    assert failure_replies(command()) == [english]
    assert (guess_locale("gmv 1"), guess_locale("上报")) == ("en", "zh")
