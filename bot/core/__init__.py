"""The platform-neutral core: identities, incoming commands, outgoing messages, clock, ports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.core.rich import Rich

MessageKind = Literal[
    "reply", "recap", "warning", "reminder", "escalation", "statement", "error", "notice"
]
"""``notice``: what one side did that the other side's chats are told (a dispute)."""


def platform_of(identity: str) -> str:
    """``"telegram"`` for ``"telegram:-1001234"``."""
    return identity.split(":", 1)[0]


def native_id(identity: str) -> str:
    """``"-1001234"`` for ``"telegram:-1001234"``."""
    return identity.split(":", 1)[1]


@dataclass(frozen=True)
class Command:
    """A command as any platform delivers it, already translated by an adapter.

    ``chat`` and ``user`` are identities written ``platform:id``. ``message_id`` is the platform's
    stable id for the message (Telegram message id, Slack event id or a derived slash-command
    key); it makes redeliveries idempotent. ``is_direct`` is true in a one-to-one chat."""

    chat: str
    user: str
    text: str
    at: dt.datetime
    name: str = ""
    message_id: str | None = None
    is_direct: bool = False
    files: tuple[Attachment, ...] = ()
    """Files sent with the message (a Seller Center export with /import)."""


@dataclass(frozen=True)
class Attachment:
    """A file to send with a message (the recap chart)."""

    filename: str
    content: bytes
    mime: str = "image/png"
    title: str = ""


@dataclass(frozen=True)
class Outgoing:
    """A message the bot sends. ``to`` is a chat identity or ``dm:`` + a person identity.

    ``text`` is plain text and the canonical content; ``rich`` optionally carries a
    platform-neutral structured form (sections with fields) that adapters may render
    (Slack Block Kit). User-supplied strings in ``text`` are raw: adapters escape them."""

    to: str
    text: str
    kind: MessageKind = "reply"
    files: tuple[Attachment, ...] = ()
    rich: Rich | None = None
    mentions: tuple[str, ...] = ()
    """Person identities to mention (reminders); adapters render platform mentions."""


@dataclass(frozen=True)
class Delivered:
    """What a platform said after a send: its message id, or the reason it refused."""

    ok: bool
    message_id: str | None = None
    error: str | None = None


class Clock(Protocol):
    """The time source. Production reads the system clock; tests and replay use a virtual one."""

    def now(self) -> dt.datetime:
        """An aware datetime (UTC)."""
        ...


def _every_chat_is_a_group(address: str) -> bool:
    return True


@dataclass(frozen=True)
class PortLimits:
    """How fast a platform lets a bot send, as its delivery port declares it; the scheduler's
    pacer reads nothing else. A rate of 0 is no limit."""

    per_second: float = 0.0
    """Sends per second for the whole bot (one token), across all its chats."""
    per_chat_per_second: float = 0.0
    """Sends per second to one chat or one person."""
    group_per_minute: float = 0.0
    """Sends per minute to one group chat (0: ``per_chat_per_second`` holds for groups too)."""
    paces_itself: bool = False
    """The port keeps to these limits on its own (an SDK's rate limiter): nobody else waits."""
    is_group: Callable[[str], bool] = _every_chat_is_a_group
    """Whether a chat address (``platform:id``, never ``dm:``) is a group chat."""


UNPACED = PortLimits()
"""The limits of a port that declares none (the console, replay, tests' fakes): no waiting."""


class DeliveryPort(Protocol):
    """Sends messages to one platform. Adapters implement this."""

    platform: str
    limits: PortLimits

    async def send(self, message: Outgoing) -> Delivered: ...


def limits_of(port: object) -> PortLimits:
    """``port.limits``, or :data:`UNPACED` for a port that declares none (a test's fake)."""
    limits = getattr(port, "limits", UNPACED)
    return limits if isinstance(limits, PortLimits) else UNPACED


@dataclass
class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@dataclass
class VirtualClock:
    """A clock that only moves when told to (replay, tests)."""

    current: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    def now(self) -> dt.datetime:
        return self.current

    def set(self, when: dt.datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self.current = when.astimezone(dt.UTC)
