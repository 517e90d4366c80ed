"""Telegram ``/report`` throughput through the adapter and the core vs the core alone, with
reports from 2 chats and from 200.

The adapter runs python-telegram-bot's real HTTP stack (long polling, ``sendMessage``) against
the fake Bot API server (``tests/fakes/telegram_api.py``) on 127.0.0.1. The fake runs in a
process of its own, as Telegram's servers are not on the bot's CPU (``bench_slack.py`` runs its
fake Slack the same way). For each shape, two sides are measured on their own SQLite files,
``reps`` times, alternately (``benchmarks/spread.py``):

- **adapter + core**: ``TelegramAdapter`` + the real core: ``n`` queued ``/report`` updates,
  timed until the last answer reached the fake; each is parsed, routed, stored (one transaction)
  and answered in HTML, and every one is checked stored at the end;
- **core alone**: ``core.handle`` called directly with the same kind of commands in the same
  order, under the adapter's own rules: each chat's commands in order, at most
  ``CONCURRENCY`` at once (what the adapter allows itself), no Telegram at all;
- **python-telegram-bot alone**: the SDK's own floor, no kpibot at all: a stock
  ``Application`` (its ``Updater`` long-polling a second fake, ``CONCURRENCY`` updates at once,
  the adapter's transport and rate limiter) whose ``/report`` handler only replies a fixed
  HTML answer of the same length, quoting the message, as the adapter does.

The floor bounds what any adapter on python-telegram-bot can keep in one process: its CPU per
update comes on top of the core's, so the most it could keep is ``core / (core + floor)`` in
CPU per report (the "ceiling" column). The adapter's own cost is what it spends above both.

With 2 chats only two commands can ever be in flight, so the path is latency-bound: every
answer's round trip to Telegram delays that chat's next command. With 200 chats the adapter's
own cost per update is what remains. Telegram's flood limits (30 messages/s, 20/min per group)
are switched off (``AIORateLimiter`` with its limits at 0: the same code path, no waiting).
The ratio is adapter+core / core alone, judged on the median; aim ≥ 0.8 with 200 chats.

Run: ``python benchmarks/bench_telegram.py [--n 300] [--reps 7] [--chats 2 200]`` (``QUICK=1``:
fewer repetitions of fewer reports; ``BENCH_PROFILE=FILE``: cProfile the bot while reports go
through the adapter, into ``FILE``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import SecretStr
from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
)

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram_http import AiohttpRequest
from bot.app import Core, build_core
from bot.core import Command, VirtualClock
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the fake lives in tests/, which is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.spread import Spread, alternate, goal, quick, ratios, reps  # noqa: E402
from tests.fakes.telegram_api import DEFAULT_DATE as FAKE_NOW  # noqa: E402
from tests.fakes.telegram_api import TOKEN, FakeTelegram  # noqa: E402

DEAL = ROOT / "bot" / "demo" / "acme-linkstar-us.yaml"
DEAL_ID = "acme-linkstar-us"
SELLER = 5001  # a seller member of the demo deal
SHAPES = (2, 200)
"""How many group chats the reports come from."""
AIM = 0.8
JUDGED = 200
"""The shape the aim is judged on (the 2-chat shape is latency-bound; it is reported)."""
CONCURRENCY = 8
"""Chats the adapter processes at once (its default), and so the core alone too."""
WARMUP = 50
METRICS = ("gmv", "orders", "ad_spend", "refunds", "viewers")
PROFILE = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
"""``BENCH_PROFILE=FILE``: the bot process, cProfiled while reports go through the adapter."""


def chat_ids(chats: int) -> list[int]:
    """``chats`` group chat ids; the first is the demo deal's seller group, the others are
    linked to the deal as seller chats by :func:`real_core`."""
    return [-1001234, *(-1005000000 - i for i in range(1, chats))]


def reports(n: int, chats: int, offset: int = 0) -> list[tuple[int, str]]:
    """``n`` distinct ``(chat id, "/report …")`` messages spread over ``chats`` linked chats."""
    ids = chat_ids(chats)
    out = []
    for i in range(offset, offset + n):
        # Up to the fake messages' date (2026-11-20): the core refuses future days.
        day = dt.date(2026, 11, 1) + dt.timedelta(days=(i // len(METRICS)) % 20)
        out.append((ids[i % chats], f"/report {METRICS[i % len(METRICS)]} {1000 + i} {day}"))
    return out


# -- the fake Bot API, in its own process ----------------------------------------------------------


def fake_process(conn: Connection) -> None:
    os.nice(19)
    asyncio.run(_fake_main(conn))


async def _fake_main(conn: Connection) -> None:
    """Serve the fake; on ``("run", n, chats, offset)`` queue those reports as updates and
    answer the seconds until ``n`` more answers were sent."""
    async with FakeTelegram(record_calls=False) as tg:
        conn.send(tg.base_url)
        loop = asyncio.get_running_loop()
        while (order := await loop.run_in_executor(None, conn.recv))[0] == "run":
            _, n, chats, offset = order
            target = tg.sent_count + n
            started = time.perf_counter()
            for chat_id, text in reports(n, chats, offset):
                tg.push_message(chat_id, text, user_id=SELLER)
            await tg.wait_for(lambda: tg.sent_count >= target, within=600)  # noqa: B023
            conn.send(time.perf_counter() - started)


@dataclass
class Fake:
    """The parent's end of the fake's process."""

    conn: Connection
    process: mp.process.BaseProcess
    base_url: str

    @classmethod
    def start(cls) -> Fake:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=fake_process, args=(child,), daemon=True)
        process.start()
        return cls(parent, process, parent.recv())

    async def run(self, n: int, chats: int, offset: int) -> float:
        """Seconds from queueing ``n`` reports until their ``n`` answers were sent."""

        def ask() -> float:
            self.conn.send(("run", n, chats, offset))
            return float(self.conn.recv())

        return await asyncio.get_running_loop().run_in_executor(None, ask)

    def stop(self) -> None:
        self.conn.send(("stop",))
        self.process.join(10)


# -- the two sides -------------------------------------------------------------------------------


def bench_settings(base_url: str, folder: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite:///{folder / f'bench-{time.monotonic_ns()}.db'}",
        telegram_bot_token=SecretStr(TOKEN),
        telegram_base_url=base_url,
        telegram_webhook_url=None,
    )


async def real_core(settings: Settings, chats: int) -> Core:
    """The core on a fresh SQLite file, the demo deal applied, ``chats`` chats linked."""
    core = await build_core(settings, clock=VirtualClock(FAKE_NOW))
    await core.apply_deal_text(DEAL.read_text(encoding="utf-8"), str(DEAL))
    for chat_id in chat_ids(chats)[1:]:
        await core.ledger.link_chat(f"telegram:{chat_id}", DEAL_ID, "seller")
    return core


def commands(messages: Sequence[tuple[int, str]], tag: str) -> list[Command]:
    return [
        Command(
            chat=f"telegram:{chat_id}",
            user=f"telegram:{SELLER}",
            name="Bench",
            text=text,
            at=FAKE_NOW,
            message_id=f"{tag}:{text}",
        )
        for chat_id, text in messages
    ]


async def in_chat_order(core: Core, batch: Sequence[Command]) -> None:
    """``core.handle`` for every command, taken in arrival order as the adapter takes them:
    each chat's in order, at most ``CONCURRENCY`` at once, the next one started as soon as a
    slot is free and its chat's previous command is done."""
    slots = asyncio.Semaphore(CONCURRENCY)
    last: dict[str, asyncio.Task[None]] = {}

    async def one(cmd: Command, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous
        async with slots:
            await core.handle(cmd)

    for cmd in batch:
        last[cmd.chat] = asyncio.create_task(one(cmd, last.get(cmd.chat)))
    await asyncio.gather(*last.values())


FLOOR_ANSWER = (
    "✅ Saved for Sun 1 Nov (seller side):\n<b>gmv</b> 1,000 · this week 1,000 · "
    "pace 100% · Acme × LinkStar"
)
"""The floor's answer: about as long as the adapter's to the same ``/report``."""


def unlimited() -> AIORateLimiter:
    """Telegram's flood limits switched off: the limiter's code path, no waiting."""
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3)


async def sdk_floor(base_url: str) -> Application:  # type: ignore[type-arg]
    """python-telegram-bot alone, started and polling: see the module docstring."""

    async def report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None:
            await update.message.reply_html(FLOOR_ANSWER, do_quote=True)

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(base_url)
        .request(AiohttpRequest(connection_pool_size=CONCURRENCY * 4))
        .get_updates_request(AiohttpRequest(connection_pool_size=1, read_timeout=20))
        .job_queue(None)
        .concurrent_updates(CONCURRENCY)
        .rate_limiter(unlimited())
        .build()
    )
    app.add_handler(CommandHandler("report", report))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(timeout=10, poll_interval=0)
    return app


async def stop_floor(app: Application) -> None:  # type: ignore[type-arg]
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


@dataclass
class Shape:
    """One shape's two sides, built once and measured ``reps`` times each."""

    chats: int
    n: int
    fake: Fake
    adapter_core: Core
    adapter: TelegramAdapter
    alone: Core
    floor_fake: Fake
    floor: Application  # type: ignore[type-arg]
    cpu: dict[str, list[float]] = field(
        default_factory=lambda: {"adapter": [], "alone": [], "floor": []}
    )
    """This process's CPU seconds per report, by side: steadier than rates on a busy machine."""

    @classmethod
    async def build(cls, chats: int, n: int, fakes: tuple[Fake, Fake], folder: Path) -> Shape:
        fake, floor_fake = fakes
        settings = bench_settings(fake.base_url, folder)
        adapter_core = await real_core(settings, chats)
        adapter = TelegramAdapter(
            adapter_core,
            settings,
            rate_limiter=unlimited(),
            poll_timeout=10,
            concurrency=CONCURRENCY,
        )
        adapter_core.add_port(adapter.port)
        await adapter.start()
        alone = await real_core(bench_settings(fake.base_url, folder), chats)
        floor = await sdk_floor(floor_fake.base_url)
        shape = cls(chats, n, fake, adapter_core, adapter, alone, floor_fake, floor)
        await fake.run(WARMUP, chats, offset=10**6)
        await in_chat_order(alone, commands(reports(WARMUP, chats, offset=10**6), "warm"))
        await floor_fake.run(WARMUP, chats, offset=10**6)
        return shape

    async def through_adapter(self, rep: int) -> float:
        """Reports/s through the adapter and the core (cProfiled with ``BENCH_PROFILE``)."""
        cpu = time.process_time()
        if PROFILE is not None:
            PROFILE.enable()
        try:
            seconds = await self.fake.run(self.n, self.chats, offset=rep * self.n)
        finally:
            if PROFILE is not None:
                PROFILE.disable()
        self.cpu["adapter"].append((time.process_time() - cpu) / self.n)
        return self.n / seconds

    async def core_alone(self, rep: int) -> float:
        """Reports/s of the core alone, in the adapter's order."""
        batch = commands(reports(self.n, self.chats, offset=rep * self.n), "alone")
        cpu, started = time.process_time(), time.perf_counter()
        await in_chat_order(self.alone, batch)
        elapsed = time.perf_counter() - started
        self.cpu["alone"].append((time.process_time() - cpu) / self.n)
        return self.n / elapsed

    async def sdk_floor(self, rep: int) -> float:
        """Updates/s through python-telegram-bot alone (answered with a fixed reply)."""
        cpu = time.process_time()
        seconds = await self.floor_fake.run(self.n, self.chats, offset=rep * self.n)
        self.cpu["floor"].append((time.process_time() - cpu) / self.n)
        return self.n / seconds

    async def close(self, reps: int) -> None:
        """Stop both sides, after checking that every report sent was stored."""
        try:
            expected = WARMUP + reps * self.n
            stored = await self.adapter_core.ledger.history(DEAL_ID, limit=10 * expected)
            if len(stored) != expected:
                raise SystemExit(f"expected {expected} stored entries, found {len(stored)}")
        finally:
            await self.adapter.stop()
            await self.adapter_core.aclose()
            await self.alone.aclose()
            await stop_floor(self.floor)


@dataclass(frozen=True)
class Result:
    chats: int
    adapter: Spread
    alone: Spread
    floor: Spread
    ratio: Spread
    ceiling: Spread
    """Per repetition: core CPU / (core CPU + python-telegram-bot's CPU), per report."""
    cpu_adapter: Spread
    cpu_alone: Spread
    cpu_floor: Spread

    @property
    def own(self) -> float:
        """The adapter's own CPU per report, above the core's and the SDK's (medians)."""
        return self.cpu_adapter.median - self.cpu_alone.median - self.cpu_floor.median


async def measure(chats: int, n: int, count: int, fakes: tuple[Fake, Fake], folder: Path) -> Result:
    shape = await Shape.build(chats, n, fakes, folder)
    try:
        through, alone, floor = await alternate(
            count, (shape.through_adapter, shape.core_alone, shape.sdk_floor)
        )
    finally:
        await shape.close(count)
    cpu = shape.cpu
    return Result(
        chats,
        Spread.of(through),
        Spread.of(alone),
        Spread.of(floor),
        ratios(through, alone),
        Spread.of([a / (a + f) for a, f in zip(cpu["alone"], cpu["floor"], strict=True)]),
        Spread.of(cpu["adapter"]),
        Spread.of(cpu["alone"]),
        Spread.of(cpu["floor"]),
    )


def table(results: Sequence[Result], n: int) -> str:
    lines = [
        f"| chats | adapter + core | core alone (same order) | python-telegram-bot alone "
        f"| kept through the adapter (aim ≥ {AIM} with {JUDGED} chats) "
        "| ceiling: core / (core + SDK), CPU | CPU per report: adapter + core / core alone / SDK "
        "alone | adapter's own CPU above core + SDK |",
        "|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in results:
        # Judged with 200 chats; the 2-chat shape is latency-bound and only reported.
        aim = goal(
            f"{r.chats} chats: kept through the adapter",
            r.ratio,
            AIM if r.chats == JUDGED else None,
        )
        ceiling = goal(f"{r.chats} chats: ceiling of any adapter on the SDK", r.ceiling, None)
        lines.append(
            f"| {r.chats} | {r.adapter.median:.0f} reports/s | {r.alone.median:.0f} reports/s "
            f"| {r.floor.median:.0f} updates/s | {aim} | {ceiling} "
            f"| {r.cpu_adapter.median * 1000:.2f} ms / {r.cpu_alone.median * 1000:.2f} ms / "
            f"{r.cpu_floor.median * 1000:.2f} ms | {r.own * 1000:.2f} ms |"
        )
    return "\n".join(
        [
            f"`/report` through python-telegram-bot + `TelegramAdapter` + the core on SQLite vs "
            f"the core alone and vs python-telegram-bot alone (a fixed reply), {n} reports per "
            "repetition, repetitions interleaved; rates are medians, ratios the median of the "
            "per-repetition ratios (min–max, n). CPU is this process's (the bot's; the fake Bot "
            "API has its own), median per report. The ceiling is the most any adapter on "
            "python-telegram-bot could keep in one process: the SDK's floor alone costs that "
            "share of the core's CPU.\n",
            *lines,
        ]
    )


async def main(n: int, count: int, shapes: Sequence[int] = SHAPES) -> list[Result]:
    fakes = (Fake.start(), Fake.start())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = [await measure(chats, n, count, fakes, Path(tmp)) for chats in shapes]
    finally:
        for fake in fakes:
            fake.stop()
    print(table(results, n))
    if PROFILE is not None:
        PROFILE.dump_stats(os.environ["BENCH_PROFILE"])
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Multiples of 100, Telegram's largest getUpdates batch: every batch full, as in a busy
    # stream (a last batch of a few updates would pay a whole round trip for them).
    parser.add_argument("--n", type=int, default=100 if quick() else 300, help="reports a run")
    parser.add_argument("--reps", type=int, default=reps(), help="interleaved repetitions")
    parser.add_argument("--chats", type=int, nargs="*", default=SHAPES, help="shapes to run")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.reps, args.chats))
