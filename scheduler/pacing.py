"""Pacing the fan-out: stay under each platform's send limits instead of meeting its 429s.

The limits are what each delivery port declares (:class:`bot.core.PortLimits`): sends per
second for the whole bot, per second to one chat, per minute to one group, and how to tell a
group from a person; the pacer knows no platform. A port that declares none (the console,
replay) is not paced. The pacer reserves each send's slot when it is asked (so concurrent
senders queue in order without a lock) in two steps: first the chat's own slot, and only once
that has come, a slot of the platform-wide budget. Reserving the global slot late keeps one
chat's long per-chat wait from blocking every other chat's turn.

A port that paces itself (an SDK's rate limiter, the Slack port's own pacer) says so in its
limits and is passed through untouched, so nothing waits twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.core import PortLimits, platform_of

__all__ = ["Pacer", "chat_interval"]

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]


def chat_interval(limits: PortLimits, to: str) -> float:
    """Least seconds between two sends to ``to`` (``slack:C1``, ``dm:telegram:5001``...) under
    ``limits``; 0 when they set none."""
    if not to.startswith("dm:") and limits.group_per_minute > 0 and limits.is_group(to):
        return 60.0 / limits.group_per_minute
    return 1.0 / limits.per_chat_per_second if limits.per_chat_per_second > 0 else 0.0


class Pacer:
    """Waits before each send so that no platform limit is exceeded."""

    def __init__(
        self,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        share: float = 1.0,
    ) -> None:
        """Create a pacer.

        Args:
            monotonic: The time source (injectable so tests and benchmarks need not wait).
            sleep: How to wait.
            share: The fraction of each platform-wide budget this process may use (with N
                replicas sending for one bot token, ``1 / N``).
        """
        self._monotonic = monotonic
        self._sleep = sleep
        self._share = share
        self._chat_next: dict[str, float] = {}
        self._platform_next: dict[str, float] = {}
        self._platform_turns: dict[str, asyncio.Lock] = {}
        self.waited = 0.0
        """Total seconds this pacer has asked callers to wait (for metrics and benchmarks)."""

    async def wait(self, to: str, limits: PortLimits, cost: int = 1) -> None:
        """Return when a message to ``to`` may be sent.

        Args:
            to: The address (``slack:C1``, ``dm:telegram:5001``...).
            limits: What the address's delivery port declares (``port.limits``).
            cost: How many platform sends the message takes (text plus each file).
        """
        if limits.paces_itself:
            return
        per_chat = chat_interval(limits, to) * cost
        if per_chat > 0:
            now = self._monotonic()
            slot = max(now, self._chat_next.get(to, now))
            self._chat_next[to] = slot + per_chat
            await self._until(slot, now)
        if limits.per_second > 0:
            sent = await self._platform_turn(platform_of(to.removeprefix("dm:")), limits, cost)
            # The chat's next slot counts from when this send really goes.
            if per_chat > 0:
                self._chat_next[to] = max(self._chat_next[to], sent + per_chat)
        if len(self._chat_next) > 50_000:
            horizon = self._monotonic()
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > horizon}

    async def _platform_turn(self, platform: str, limits: PortLimits, cost: int) -> float:
        """Wait for the platform-wide budget; returns when this send really goes.

        One waiter at a time, and the next turn counts from when this one really woke: slots
        handed out in advance would all come due together after a stall of the event loop and
        go out as one burst, past the platform's budget."""
        async with self._platform_turns.setdefault(platform, asyncio.Lock()):
            now = self._monotonic()
            await self._until(self._platform_next.get(platform, now), now)
            sent = self._monotonic()
            self._platform_next[platform] = sent + cost / (limits.per_second * self._share)
        return sent

    async def _until(self, slot: float, now: float) -> None:
        if slot > now:
            self.waited += slot - now
            await self._sleep(slot - now)
