"""Redelivery: 2,000 reports, 30% of them delivered twice, through the real Slack and Telegram
adapters and the fake platform servers; exactly 2,000 entries are stored.

Slack retries an event it thinks was not acknowledged (same ``event_id``, with
``X-Slack-Retry-Num``); Telegram delivers an update again when its offset was not confirmed
(polling) or the webhook's answer was lost (possibly to another replica). Both platforms run at
once on one core and one SQLite ledger.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import Counter
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.adapters.slack import SlackAdapter
from bot.adapters.telegram import SECRET_HEADER, TelegramAdapter
from bot.app import Core
from bot.settings import Settings
from bot.web import bound_port, build_web_app, serve
from kpi.storage import entries
from tests.fakes.slack_api import BOT_TOKEN, BOT_USER, SIGNING_SECRET, FakeSlack
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.reliability.conftest import (
    AGENCY_CHANNEL,
    AGENCY_PERSON,
    DEAL,
    SELLER,
    SELLER_GROUP,
    demo_core,
)
from tests.test_slack import Bot, VirtualTime

# About 45 s on a busy 2-core machine: more than the suite's default timeout allows for.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NOW = dt.datetime(2027, 6, 1, 20, 0, tzinfo=dt.UTC)  # 13:00 in Los Angeles
FIRST_DAY = dt.date(2026, 11, 1)  # the demo deal's start
METRICS = ("gmv", "orders", "ad_spend", "refunds", "viewers")
PER_PLATFORM = 1_000
DUPLICATED = 300  # 30% of each platform's reports
WEBHOOK_URL = "https://kpibot.example.com/telegram/webhook"
WEBHOOK_SECRET = "redelivery-secret"
WAIT = 90.0  # a safety net for a broken run; a passing run never waits for it


@dataclass(frozen=True)
class Report:
    """One report: a distinct (day, metric) of one side, with a distinct value."""

    n: int
    day: dt.date
    metric: str
    value: Decimal

    @property
    def args(self) -> str:
        return f"{self.metric} {self.value} {self.day.isoformat()}"


def reports() -> list[Report]:
    """1,000 reports: 200 days x 5 metrics, so every report is a new entry."""
    out = []
    for n in range(PER_PLATFORM):
        day = FIRST_DAY + dt.timedelta(days=n // len(METRICS))
        out.append(Report(n, day, METRICS[n % len(METRICS)], Decimal(1000 + 7 * n)))
    assert out[-1].day < NOW.date()
    return out


async def bounded(works: Iterable[Awaitable[Any]], limit: int = 16) -> None:
    """Await ``works`` with at most ``limit`` in flight (a burst, as a platform sends them)."""
    slots = asyncio.Semaphore(limit)

    async def one(work: Awaitable[Any]) -> None:
        async with slots:
            await work

    await asyncio.gather(*(one(w) for w in works))


# ---------------------------------------------------------------------------------- Slack


async def slack_side(core: Core, settings: Settings, fake: FakeSlack, rng: random.Random) -> None:
    """1,000 ``app_mention`` reports; 300 retried with the same ``event_id``: 150 while the
    first delivery is still being handled, 150 after every first delivery was answered."""
    adapter = SlackAdapter(core, settings, post_interval=0.0, jitter=lambda: 0.0)
    core.add_port(adapter.port)
    runner = await serve(build_web_app(adapter.web_routes()), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(runner)}/slack/events"
    work = reports()
    retried = rng.sample(work, DUPLICATED)
    racing, late = retried[: DUPLICATED // 2], retried[DUPLICATED // 2 :]
    racing_ids = {r.n for r in racing}
    try:
        async with aiohttp.ClientSession() as http:
            bot = Bot(fake, core, adapter, url, http, VirtualTime(fake))

            async def mention(report: Report, retry: int | None = None) -> None:
                response = await bot.mention(
                    f"<@{BOT_USER}> report {report.args}",
                    event_id=f"Ev{report.n:05d}",
                    user=AGENCY_PERSON,
                    retry=retry,
                )
                assert response.status == 200  # acknowledged, first delivery or retry

            def answered(n: int) -> Any:
                return lambda calls: sum(c.method == "chat.postMessage" for c in calls) >= n

            first_wave: list[Awaitable[Any]] = []
            for report in work:
                first_wave.append(mention(report))
                if report.n in racing_ids:
                    first_wave.append(mention(report, retry=1))
            await bounded(first_wave)
            await fake.wait_for(answered(PER_PLATFORM + len(racing)), within=WAIT)
            await bounded(mention(report, retry=2) for report in late)
            await fake.wait_for(answered(PER_PLATFORM + DUPLICATED), within=WAIT)
    finally:
        await runner.cleanup()
        await adapter.stop()


# ------------------------------------------------------------------------------- Telegram


async def telegram_side(
    core: Core, settings: Settings, tg: FakeTelegram, rng: random.Random
) -> None:
    """1,000 reports: 500 by polling and 500 by webhook, 300 of them delivered twice.

    Polling: 75 updates queued twice in the same run (this process skips them), then 75 sent
    again after a restart (a new process: only the ledger can tell). Webhook: two replicas;
    150 updates reach both, 75 of them at the same time."""
    work = reports()
    polled, hooked = work[: PER_PLATFORM // 2], work[PER_PLATFORM // 2 :]
    quarter = DUPLICATED // 4

    def update(report: Report) -> dict[str, Any]:
        return tg.message_update(SELLER_GROUP, f"/report {report.args}", user_id=SELLER, date=NOW)

    # -- polling: one run, then a restart
    updates = [update(r) for r in polled]
    again = rng.sample(updates, 2 * quarter)
    same_run, after_restart = again[:quarter], again[quarter:]
    queue = list(updates)
    for dup in same_run:
        # Telegram resends from the first unconfirmed update: the copy comes a little later.
        at = queue.index(dup) + 1 + rng.randrange(40)
        queue.insert(min(at, len(queue)), dup)
    sent_before = tg.sent_count
    adapter = TelegramAdapter(core, settings, rate_limiter=None, poll_timeout=1, typing_after=60)
    await adapter.start()
    for item in queue:
        tg.push_update(item)
    await tg.wait_for(lambda: tg.sent_count - sent_before >= len(updates), within=WAIT)
    await tg.wait_for(lambda: tg.confirmed_offset > updates[-1]["update_id"], within=WAIT)
    await adapter.stop()

    restarted = TelegramAdapter(core, settings, rate_limiter=None, poll_timeout=1, typing_after=60)
    await restarted.start()
    for item in after_restart:
        tg.push_update(item)
    expected = len(updates) + len(after_restart)
    await tg.wait_for(lambda: tg.sent_count - sent_before >= expected, within=WAIT)
    await restarted.stop()

    # -- webhook: two replicas behind one URL
    hook_settings = settings.model_copy(
        update={
            "telegram_webhook_url": WEBHOOK_URL,
            "telegram_webhook_secret": SecretStr(WEBHOOK_SECRET),
        }
    )
    replicas = [
        TelegramAdapter(core, hook_settings, rate_limiter=None, typing_after=60) for _ in range(2)
    ]
    runners = []
    for replica in replicas:
        await replica.start()
        runners.append(await serve(build_web_app(replica.web_routes()), "127.0.0.1", 0))
    urls = [f"http://127.0.0.1:{bound_port(r)}{replicas[0].webhook_path}" for r in runners]
    hook_updates = [update(r) for r in hooked]
    doubled = rng.sample(range(len(hook_updates)), 2 * quarter)
    together, later = set(doubled[:quarter]), doubled[quarter:]
    try:
        async with aiohttp.ClientSession() as http:

            async def post(replica: int, item: dict[str, Any]) -> None:
                headers = {SECRET_HEADER: WEBHOOK_SECRET}
                async with http.post(urls[replica], json=item, headers=headers) as response:
                    assert response.status == 200

            async def deliver(i: int) -> None:
                first = i % 2
                if i in together:
                    # The first answer was slow: Telegram sends again, to the other replica.
                    await asyncio.gather(
                        post(first, hook_updates[i]), post(1 - first, hook_updates[i])
                    )
                else:
                    await post(first, hook_updates[i])

            await bounded(deliver(i) for i in range(len(hook_updates)))
            await bounded(post(1 - i % 2, hook_updates[i]) for i in later)
    finally:
        for runner in runners:
            await runner.cleanup()
        for replica in replicas:
            await replica.stop()


# ---------------------------------------------------------------------------------- test


async def test_two_thousand_reports_thirty_percent_redelivered_store_two_thousand_entries(
    tmp_path: Path,
) -> None:
    """Proves that a redelivered message is never counted twice, whatever the path: a Slack
    event retry (racing the first delivery or after it), a Telegram update queued twice in
    one run, sent again after a restart, or posted to two webhook replicas at once. Every
    report is stored exactly once with its value; people are told "Saved" once per report,
    and "Already recorded" for each copy that reached the ledger."""
    fake = await FakeSlack().start()
    try:
        async with FakeTelegram() as tg:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=f"sqlite:///{tmp_path / 'kpibot.db'}",
                slack_bot_token=SecretStr(BOT_TOKEN),
                slack_signing_secret=SecretStr(SIGNING_SECRET),
                slack_api_url=fake.api_url,
                telegram_bot_token=SecretStr(TOKEN),
                telegram_base_url=tg.base_url,
            )
            core = await demo_core(settings, NOW)
            try:
                await asyncio.gather(
                    slack_side(core, settings, fake, random.Random(7)),
                    telegram_side(core, settings, tg, random.Random(11)),
                )
                await check_ledger(core)
            finally:
                await core.aclose()
            telegram_texts = tg.texts(SELLER_GROUP)
    finally:
        await fake.aclose()

    slack_texts = [str(c.params["text"]) for c in fake.of("chat.postMessage")]
    # Slack: every delivery is answered; Telegram: the copies this process skipped are not.
    assert answers(slack_texts) == {"saved": PER_PLATFORM, "already": DUPLICATED}
    assert answers(telegram_texts) == {"saved": PER_PLATFORM, "already": DUPLICATED * 3 // 4}


def answers(texts: list[str]) -> dict[str, int]:
    """How many answers said "Saved", and how many "Already recorded" (nothing else)."""
    kinds = Counter(
        "saved" if t.startswith("✅ Saved") else "already" if "Already recorded" in t else t
        for t in texts
    )
    return dict(kinds)


async def check_ledger(core: Core) -> None:
    """2,000 entries: one per report and side, with the reported value, none superseded."""
    async with core.engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(entries))).scalar_one()
    assert total == 2 * PER_PLATFORM
    stored = await core.ledger.history(DEAL, limit=10 * PER_PLATFORM)
    assert len(stored) == 2 * PER_PLATFORM
    assert all(e.supersedes is None for e in stored)
    assert len({(e.chat, e.message_key) for e in stored}) == len(stored)
    expected = {(r.day, r.metric): r.value for r in reports()}
    for side, chat in (
        ("agency", f"slack:{AGENCY_CHANNEL}"),
        ("seller", f"telegram:{SELLER_GROUP}"),
    ):
        mine = {(e.day, e.metric): e.value for e in stored if e.side == side}
        assert mine == expected, side
        assert {e.chat for e in stored if e.side == side} == {chat}
