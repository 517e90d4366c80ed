"""Pacing the fan-out: the pacer's arithmetic, and 300 chats on each platform without a 429.

The fan-out test runs the real adapters (slack_sdk, python-telegram-bot) against the fake
servers, which here *enforce* the platforms' limits and answer 429 past them: Slack, at most
two posts within any second in one channel (one per second, a short burst tolerated);
Telegram, a bucket of 30 sends refilled at 30 per second for the whole bot and 20 per minute
per group. A control without pacing shows that the fakes do refuse. Time is scaled (one real
second is ``SCALE`` seconds for the pacers and the fakes alike), so a fan-out whose floor is
20 seconds of platform time takes two.

The Telegram adapter runs without python-telegram-bot's own limiter, so that the scheduler's
pacer is what keeps the fan-out in bounds (in production the adapter's ``AIORateLimiter``
applies the same limits and the scheduler passes through, see ``paces_itself``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import TelegramAdapter
from bot.app import Core, build_core, install_scheduler
from bot.core import Command, VirtualClock
from bot.settings import Settings
from scheduler.pacing import PLATFORM_LIMITS, Limits, Pacer, paces_itself
from scheduler.service import SchedulerService
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.fakes.telegram_api import TOKEN, FakeTelegram, _error
from tests.test_scheduler_support import SELLER, deal_yaml

SCALE = 10.0
CHATS = 300


# ------------------------------------------------------------------------- the pacer


@dataclass
class FakeTime:
    """A clock that moves only when a sleeper asks it to (single task: exact)."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class HeldTime(FakeTime):
    """Sleepers wait until the test moves the clock past their wake-up time."""

    sleepers: list[tuple[float, asyncio.Future[None]]] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + seconds, done))
        await done

    async def advance_to(self, when: float) -> None:
        await asyncio.sleep(0)
        self.now = when
        for wake, done in self.sleepers:
            if wake <= when and not done.done():
                done.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)


async def test_telegram_overall_budget_spaces_sends_across_groups() -> None:
    clock = FakeTime()
    pacer = Pacer(monotonic=clock.monotonic, sleep=clock.sleep)
    starts = []
    for i in range(61):
        await pacer.wait(f"telegram:-100{i}")
        starts.append(clock.now)
    assert starts[30] == pytest.approx(1.0) and starts[60] == pytest.approx(2.0)


async def test_one_chat_waits_for_its_own_interval_and_cost() -> None:
    clock = FakeTime()
    pacer = Pacer(monotonic=clock.monotonic, sleep=clock.sleep)
    await pacer.wait("telegram:-1001", cost=2)  # a message with a chart: two sends
    await pacer.wait("telegram:-1001")
    assert clock.now == pytest.approx(6.0)  # 20 a minute in a group: 3 s per send
    await pacer.wait("dm:telegram:5001")
    await pacer.wait("dm:telegram:5001")
    # A private chat: 1 s (after the overall slot the group's second send took).
    assert clock.now == pytest.approx(7.0 + 1 / 30)
    await pacer.wait("slack:C1")
    await pacer.wait("slack:C2")  # another channel does not wait
    assert clock.now == pytest.approx(7.0 + 1 / 30)
    await pacer.wait("slack:C1")
    assert clock.now == pytest.approx(8.0 + 1 / 30)


async def test_a_long_wait_in_one_chat_does_not_hold_the_others() -> None:
    """A group's second send waits 3 s for its own slot; meanwhile another group takes the
    next overall slot at once instead of queueing behind it."""
    clock = HeldTime()
    pacer = Pacer(monotonic=clock.monotonic, sleep=clock.sleep)
    await pacer.wait("telegram:-1")
    second = asyncio.create_task(pacer.wait("telegram:-1"))
    other = asyncio.create_task(pacer.wait("telegram:-2"))
    await clock.advance_to(1 / 30)
    assert other.done() and not second.done()
    await clock.advance_to(3.0)
    assert second.done()


async def test_unpaced_platforms_and_self_pacing_ports() -> None:
    clock = FakeTime()
    pacer = Pacer(monotonic=clock.monotonic, sleep=clock.sleep, share=0.5)
    for _ in range(3):
        await pacer.wait("console:me")
    assert clock.now == 0
    await pacer.wait("telegram:-1")
    await pacer.wait("telegram:-2")
    assert clock.now == pytest.approx(2 / 30)  # half the budget with two replicas

    class Own:
        paces = True

    class Slackish:
        pacer = object()

    assert paces_itself(Own()) and paces_itself(Slackish()) and not paces_itself(object())
    assert PLATFORM_LIMITS["slack"] == Limits(group=1.0, direct=1.0)


async def test_replicas_share_the_per_token_budget(tmp_path: Path) -> None:
    """``REPLICAS=3``: the scheduler's pacer and the Telegram adapter's rate limiter each keep
    to a third of Telegram's 30 a second; one replica (the default) keeps all of it."""
    for replicas, rate in ((1, 30.0), (3, 10.0)):
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=f"sqlite:///{tmp_path / f'r{replicas}.db'}",
            telegram_bot_token=SecretStr(TOKEN),
            replicas=replicas,
        )
        core = await build_core(settings)
        try:
            service = core.scheduler
            assert isinstance(service, SchedulerService)
            clock = FakeTime()
            service.pacer._monotonic, service.pacer._sleep = clock.monotonic, clock.sleep
            for n in range(4):
                await service.pacer.wait(f"telegram:-{n}")
            assert clock.now == pytest.approx(3 / rate)
            adapter = TelegramAdapter(core, settings)
            limiter = adapter.application.bot.rate_limiter
            assert limiter is not None
            assert limiter._base_limiter.max_rate == pytest.approx(rate)  # type: ignore[attr-defined]
        finally:
            await core.aclose()
    with pytest.raises(ValueError, match="replicas"):
        Settings(_env_file=None, replicas=0)  # type: ignore[call-arg]


# -------------------------------------------------------------- fakes that enforce


class ScaledTime:
    """Platform time running ``factor`` times faster than the wall clock."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.origin = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self.origin) * self.factor

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.factor)


@dataclass
class LimitedSlack(FakeSlack):
    """FakeSlack answering 429 to a third post within one second in a channel."""

    clock: Callable[[], float] = time.monotonic
    posts: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    refused: int = 0

    async def _record(self, method: str, request: web.Request, params: dict[str, Any]) -> Any:
        call = await super()._record(method, request, params)
        if method == "chat.postMessage":
            now = self.clock()
            recent = self.posts[str(params.get("channel"))]
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= 2:
                self.refused += 1
                self.fail("chat.postMessage", retry_after=1)  # answered to this very call
            else:
                recent.append(now)
        return call


SEND_METHODS = {"sendmessage", "sendphoto", "senddocument", "sendmediagroup"}


@dataclass
class LimitedTelegram(FakeTelegram):
    """FakeTelegram answering 429 past 30 sends a second overall or 20 a minute in a group."""

    clock: Callable[[], float] = time.monotonic
    tokens: float = 30.0
    last: float | None = None
    groups: dict[int, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    refused: int = 0

    async def _dispatch(
        self, method: str, params: dict[str, Any], files: dict[str, bytes]
    ) -> web.Response:
        if method.lower() in SEND_METHODS:
            now = self.clock()
            if self.last is not None:
                self.tokens = min(30.0, self.tokens + (now - self.last) * 30)
            self.last = now
            chat = int(params["chat_id"])
            recent = self.groups[chat]
            while recent and now - recent[0] >= 60.0:
                recent.popleft()
            if self.tokens < 1 or (chat < 0 and len(recent) >= 20):
                self.refused += 1
                return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self.tokens -= 1
            recent.append(now)
        return await super()._dispatch(method, params, files)


# ---------------------------------------------------------------------- the fan-out


SLACK_CHATS = tuple((f"slack:C{i:04d}", "shared") for i in range(CHATS))
TELEGRAM_CHATS = tuple((f"telegram:-100{i:06d}", "shared") for i in range(CHATS))
RECAP_AND_PACE_AT_NINE = (
    'schedule:\n  recap: mon 09:00\n  pace_check: "09:00"\n'
    "  escalation: {after: 4h, repeat: 12h, max: 1}\n"
)


@dataclass
class Platforms:
    core: Core
    slack: LimitedSlack
    telegram: LimitedTelegram
    service: SchedulerService


@pytest.fixture
async def platforms(tmp_path: Path) -> AsyncIterator[Platforms]:
    scaled = ScaledTime(SCALE)
    slack = LimitedSlack(clock=scaled.monotonic)
    await slack.start()
    telegram = LimitedTelegram(clock=scaled.monotonic)
    await telegram.start()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=slack.api_url,
        telegram_bot_token=SecretStr(TOKEN),
        telegram_base_url=telegram.base_url,
    )
    clock = VirtualClock(dt.datetime.fromisoformat("2026-11-01T00:00:00-07:00"))
    core = await build_core(settings, clock=clock)
    slack_adapter = SlackAdapter(
        core, settings, monotonic=scaled.monotonic, sleep=scaled.sleep, jitter=lambda: 0.0
    )
    telegram_adapter = TelegramAdapter(core, settings, rate_limiter=None, poll_timeout=1)
    core.add_port(slack_adapter.port)
    core.add_port(telegram_adapter.port)
    await telegram_adapter.start()
    pacer = Pacer(monotonic=scaled.monotonic, sleep=scaled.sleep)
    install_scheduler(core, pacer=pacer, sleep=scaled.sleep, concurrency=CHATS * 2)
    service = core.scheduler
    try:
        yield Platforms(core, slack, telegram, service)
    finally:
        await telegram_adapter.stop()
        await slack_adapter.stop()
        await core.aclose()
        await slack.aclose()
        await telegram.stop()


@pytest.mark.slow
async def test_fan_out_to_300_chats_on_each_platform_sees_no_429(platforms: Platforms) -> None:
    core, clock = platforms.core, platforms.core.clock
    assert isinstance(clock, VirtualClock)
    # Slack: the recap with its chart and a pace warning in every channel at once (two posts
    # per channel, a second apart, plus the three calls of the chart upload), and escalation
    # DMs. Telegram: the recap with its chart in 300 groups, against the 30-a-second budget.
    await core.apply_deal_text(
        deal_yaml(deal_id="slack-wide", chats=SLACK_CHATS, schedule=RECAP_AND_PACE_AT_NINE)
    )
    await core.apply_deal_text(
        deal_yaml(
            deal_id="telegram-wide",
            chats=TELEGRAM_CHATS,
            schedule="schedule:\n  recap: mon 09:00\n",
        )
    )
    clock.set(dt.datetime.fromisoformat("2026-11-02T08:00:00-08:00"))
    await core.tick(clock.now())  # the slots of 11-01 pass quietly (nothing reported)
    for text in ("/report gmv 1000 2026-11-01", "/report gmv 1000 2026-11-02"):
        await core.handle(
            Command("slack:C0001", SELLER, f"{text} #slack-wide", clock.now(), "Lily", text)
        )
    clock.set(dt.datetime.fromisoformat("2026-11-02T09:00:00-08:00"))
    await core.tick(clock.now())

    assert platforms.slack.refused == 0
    assert platforms.telegram.refused == 0
    rows = await platforms.service.store.rows(jobs=False)
    due = [r for r in rows if r.due_at <= clock.now()]  # level 2 of the escalation waits 4 h
    assert due and all(r.status == "sent" for r in due), {(r.chat, r.error) for r in due}
    posts = platforms.slack.of("chat.postMessage")
    by_channel = defaultdict(list)
    for call in posts:
        by_channel[call.params["channel"]].append(call.params.get("text", ""))
    assert len(by_channel) >= CHATS
    assert all(len(texts) == 2 for channel, texts in by_channel.items() if channel.startswith("C"))
    assert len(platforms.slack.of("files.completeUploadExternal")) == CHATS
    groups = {
        int(call.params["chat_id"])
        for method in ("sendMessage", "sendPhoto")
        for call in platforms.telegram.calls_to(method)
        if int(call.params["chat_id"]) < 0
    }
    assert len(groups) == CHATS
    assert len(platforms.telegram.calls_to("sendPhoto")) == CHATS


@pytest.mark.slow
async def test_the_fakes_do_refuse_an_unpaced_burst(platforms: Platforms) -> None:
    url = f"{platforms.telegram.base_url}{TOKEN}/sendMessage"
    async with aiohttp.ClientSession() as http:

        async def post(i: int) -> int:
            async with http.post(url, json={"chat_id": -100000 - i, "text": "hi"}) as response:
                return response.status

        statuses = await asyncio.gather(*(post(i) for i in range(100)))
    assert platforms.telegram.refused > 0 and 429 in statuses
    client = platforms.core.ports["slack"].client  # type: ignore[attr-defined]
    await asyncio.gather(
        *(client.chat_postMessage(channel="C9999", text=str(i)) for i in range(3)),
        return_exceptions=True,
    )
    assert platforms.slack.refused > 0
