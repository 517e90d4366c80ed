"""Pacing the fan-out: stay under each platform's send limits instead of meeting its 429s.

Slack allows about one message per second per channel. Telegram allows about one message per
second in a private chat, 20 per minute in a group, and 30 per second for the whole bot. The
pacer reserves each send's slot when it is asked (so concurrent senders queue in order without a
lock) in two steps: first the chat's own slot, and only once that has come, a slot of the
platform-wide budget. Reserving the global slot late keeps one chat's long per-chat wait from
blocking every other chat's turn.

A port that paces itself (the Slack port's ``ChannelPacer``, or a Telegram port built on
python-telegram-bot's rate limiter) is passed through untouched, so nothing waits twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.core import platform_of

__all__ = ["PLATFORM_LIMITS", "Limits", "Pacer", "paces_itself"]

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]


@dataclass(frozen=True)
class Limits:
    """Minimum seconds between sends, per unit of cost (a message with a chart costs 2)."""

    group: float
    """Between sends to one group or channel."""
    direct: float
    """Between sends to one person."""
    overall: float = 0.0
    """Between any two sends on the platform (0: no platform-wide limit)."""


PLATFORM_LIMITS: Mapping[str, Limits] = {
    "slack": Limits(group=1.0, direct=1.0),
    "telegram": Limits(group=3.0, direct=1.0, overall=1 / 30),
}
"""The documented limits: Slack's chat.postMessage special tier (1 per second per channel);
Telegram's Bot API FAQ (1 per second per chat, 20 per minute per group, 30 per second in all)."""


def paces_itself(port: object) -> bool:
    """Whether a delivery port applies the platform's limits on its own."""
    if getattr(port, "paces", False):
        return True
    return any(getattr(port, name, None) is not None for name in ("pacer", "rate_limiter"))


def _is_group(to: str) -> bool:
    if to.startswith("dm:"):
        return False
    platform, _, native = to.partition(":")
    if platform == "telegram":
        # Telegram group and channel ids are negative; a positive id is a private chat.
        return native.startswith("-")
    return True


class Pacer:
    """Waits before each send so that no platform limit is exceeded."""

    def __init__(
        self,
        limits: Mapping[str, Limits] = PLATFORM_LIMITS,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        share: float = 1.0,
    ) -> None:
        """Create a pacer.

        Args:
            limits: Limits by platform; a platform not listed is not paced.
            monotonic: The time source (injectable so tests and benchmarks need not wait).
            sleep: How to wait.
            share: The fraction of each platform-wide budget this process may use (with N
                replicas sending for one bot token, ``1 / N``).
        """
        self.limits = dict(limits)
        self._monotonic = monotonic
        self._sleep = sleep
        self._share = share
        self._chat_next: dict[str, float] = {}
        self._platform_next: dict[str, float] = {}
        self._platform_turns: dict[str, asyncio.Lock] = {}
        self.waited = 0.0
        """Total seconds this pacer has asked callers to wait (for metrics and benchmarks)."""

    def interval(self, to: str) -> float:
        """The per-chat interval for an address (0 when it is not paced)."""
        limits = self.limits.get(platform_of(to.removeprefix("dm:")))
        if limits is None:
            return 0.0
        return limits.group if _is_group(to) else limits.direct

    async def wait(self, to: str, cost: int = 1) -> None:
        """Return when a message to ``to`` may be sent.

        Args:
            to: The address (``slack:C1``, ``dm:telegram:5001``...).
            cost: How many platform sends the message takes (text plus each file).
        """
        platform = platform_of(to.removeprefix("dm:"))
        limits = self.limits.get(platform)
        if limits is None:
            return
        per_chat = self.interval(to) * cost
        now = self._monotonic()
        slot = max(now, self._chat_next.get(to, now))
        self._chat_next[to] = slot + per_chat
        await self._until(slot, now)
        if limits.overall > 0:
            # One waiter at a time, and the next turn counts from when this one really woke:
            # slots handed out in advance would all come due together after a stall of the
            # event loop and go out as one burst, past the platform's budget.
            async with self._platform_turns.setdefault(platform, asyncio.Lock()):
                now = self._monotonic()
                await self._until(self._platform_next.get(platform, now), now)
                sent = self._monotonic()
                self._platform_next[platform] = sent + limits.overall * cost / self._share
            # The chat's next slot counts from when this send really goes.
            self._chat_next[to] = max(self._chat_next[to], sent + per_chat)
        if len(self._chat_next) > 50_000:
            horizon = self._monotonic()
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > horizon}

    async def _until(self, slot: float, now: float) -> None:
        if slot > now:
            self.waited += slot - now
            await self._sleep(slot - now)
