"""Telegram ``/report`` throughput through the adapter and the core vs a bare echo bot.

Both bots run python-telegram-bot's real HTTP stack against the same fake Bot API server
(``tests/fakes/telegram_api.py``) on 127.0.0.1, in the same run. Each gets ``--n`` queued
``/report`` updates at once and is timed until it has sent ``--n`` answers:

- **echo**: the bare python-telegram-bot echo bot (``Application`` with its ``Updater``, one
  ``MessageHandler`` that answers ``reply_text(text)``; library defaults otherwise);
- **adapter**: ``TelegramAdapter`` + the real core on SQLite: parse, route, store the entry
  (one transaction), answer in HTML.

Telegram's own flood limits (30 messages/s, 20/min per group) are a floor both bots would hit
equally, so they are switched off here: the echo bot has no rate limiter (its default) and the
adapter runs ``AIORateLimiter`` with its limits at 0 (the same code path, no waiting). The
printed ratio is adapter/echo (aim ≥ 0.8).

Run: ``python benchmarks/bench_telegram.py [--n 1000] [--chats 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from telegram import Update
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.adapters.telegram import TelegramAdapter
from bot.app import Core, build_core
from bot.core import Command, Delivered, Outgoing, VirtualClock
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the fake lives in tests/, which is not an installed package
    sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_api import DEFAULT_DATE as FAKE_NOW  # noqa: E402
from tests.fakes.telegram_api import TOKEN, FakeTelegram  # noqa: E402

DEAL = ROOT / "bot" / "demo" / "acme-linkstar-us.yaml"
DEAL_ID = "acme-linkstar-us"
SELLER = 5001  # a seller member of the demo deal


def chat_ids(chats: int) -> list[int]:
    """``chats`` group chat ids; the first is the demo deal's seller group, the others are
    linked to the deal as seller chats by :func:`run_adapter`."""
    return [-1001234, *(-1005000000 - i for i in range(1, chats))]


METRICS = ("gmv", "orders", "ad_spend", "refunds", "viewers")


def reports(n: int, chats: int, offset: int = 0) -> list[tuple[int, str]]:
    """``n`` distinct ``(chat id, "/report …")`` messages spread over ``chats`` linked chats."""
    ids = chat_ids(chats)
    out = []
    for i in range(offset, offset + n):
        # Up to the fake messages' date (2026-11-20): the core refuses future days.
        day = dt.date(2026, 11, 1) + dt.timedelta(days=(i // len(METRICS)) % 20)
        out.append((ids[i % chats], f"/report {METRICS[i % len(METRICS)]} {1000 + i} {day}"))
    return out


def push_reports(tg: FakeTelegram, n: int, chats: int, offset: int = 0) -> None:
    """Queue :func:`reports` as Telegram updates on the fake."""
    for chat_id, text in reports(n, chats, offset):
        tg.push_message(chat_id, text, user_id=SELLER)


async def timed(tg: FakeTelegram, n: int, push: Callable[[], None]) -> float:
    """Seconds from queueing the updates until ``n`` more answers were sent."""
    target = tg.sent_count + n
    started = time.perf_counter()
    push()
    await tg.wait_for(lambda: tg.sent_count >= target, within=600)
    return time.perf_counter() - started


async def run_echo(tg: FakeTelegram, n: int, chats: int, warmup: int) -> float:
    """Reports/s of the bare echo bot."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    app = ApplicationBuilder().token(TOKEN).base_url(tg.base_url).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=dt.timedelta(seconds=10))
    try:
        await timed(tg, warmup, lambda: push_reports(tg, warmup, chats, offset=10**6))
        return n / await timed(tg, n, lambda: push_reports(tg, n, chats))
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


def bench_settings(tg: FakeTelegram, folder: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite:///{folder / f'bench-{time.monotonic_ns()}.db'}",
        telegram_bot_token=SecretStr(TOKEN),
        telegram_base_url=tg.base_url,
        telegram_webhook_url=None,
    )


async def real_core(settings: Settings, chats: int) -> Core:
    """The core on a fresh SQLite file, the demo deal applied, ``chats`` chats linked."""
    core = await build_core(settings, clock=VirtualClock(FAKE_NOW))
    await core.apply_deal_text(DEAL.read_text(encoding="utf-8"), str(DEAL))
    for chat_id in chat_ids(chats)[1:]:
        await core.ledger.link_chat(f"telegram:{chat_id}", DEAL_ID, "seller")
    return core


class InstantCore:
    """A core that answers at once without storing: isolates the adapter's own cost."""

    def __init__(self) -> None:
        self.clock = VirtualClock(FAKE_NOW)

    async def handle(self, cmd: Command) -> list[Outgoing]:
        return [Outgoing(to=cmd.chat, text=f"✅ Saved: {cmd.text}")]

    async def deliver(self, msg: Outgoing) -> Delivered:
        return Delivered(ok=False, error="not used")

    def add_port(self, port: object) -> None:
        pass


async def run_adapter(
    tg: FakeTelegram, n: int, chats: int, warmup: int, folder: Path, *, instant: bool = False
) -> float:
    """Reports/s through ``TelegramAdapter`` and the core (SQLite), checking every store;
    with ``instant`` the core is :class:`InstantCore`."""
    settings = bench_settings(tg, folder)
    core: Any = InstantCore() if instant else await real_core(settings, chats)
    limiter: AIORateLimiter = AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3)
    adapter = TelegramAdapter(core, settings, rate_limiter=limiter, poll_timeout=10)
    core.add_port(adapter.port)
    await adapter.start()
    try:
        await timed(tg, warmup, lambda: push_reports(tg, warmup, chats, offset=10**6))
        rate = n / await timed(tg, n, lambda: push_reports(tg, n, chats))
        if not instant:
            stored = await core.ledger.history(DEAL_ID, limit=10 * (n + warmup))
            if len(stored) != n + warmup:
                raise SystemExit(f"expected {n + warmup} stored entries, found {len(stored)}")
        return rate
    finally:
        await adapter.stop()
        if not instant:
            await core.aclose()


async def run_core_alone(tg: FakeTelegram, n: int, chats: int, warmup: int, folder: Path) -> float:
    """Reports/s of ``core.handle`` called directly with the same commands (no Telegram)."""
    core = await real_core(bench_settings(tg, folder), chats)
    try:
        messages = reports(warmup, chats, offset=10**6) + reports(n, chats)
        commands = [
            Command(
                chat=f"telegram:{chat_id}",
                user=f"telegram:{SELLER}",
                name="Bench",
                text=text,
                at=FAKE_NOW,
                message_id=f"core-alone:{i}",
            )
            for i, (chat_id, text) in enumerate(messages)
        ]
        for cmd in commands[:warmup]:
            await core.handle(cmd)
        started = time.perf_counter()
        for cmd in commands[warmup:]:
            await core.handle(cmd)
        return n / (time.perf_counter() - started)
    finally:
        await core.aclose()


async def main(n: int, chats: int, warmup: int) -> dict[str, float]:
    async with FakeTelegram(record_calls=False) as tg:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            runs: list[tuple[str, Callable[[], Awaitable[float]]]] = [
                ("echo", lambda: run_echo(tg, n, chats, warmup)),
                ("adapter", lambda: run_adapter(tg, n, chats, warmup, folder)),
                ("instant", lambda: run_adapter(tg, n, chats, warmup, folder, instant=True)),
                ("core", lambda: run_core_alone(tg, n, chats, warmup, folder)),
            ]
            results = {name: await run() for name, run in runs}
    ratio = results["adapter"] / results["echo"]
    print(f"telegram /report throughput, {n} updates over {chats} group chat(s), fake Bot API")
    print(f"  bare python-telegram-bot echo bot       : {results['echo']:8.1f} updates/s")
    print(f"  kpibot adapter + core (SQLite)          : {results['adapter']:8.1f} reports/s")
    print(f"  ratio adapter+core / echo               : {ratio:8.2f}  (aim >= 0.80)")
    print("  where the time goes:")
    print(
        f"    adapter + instant core (no storage)   : {results['instant']:8.1f} reports/s"
        f"  = {results['instant'] / results['echo']:.2f} x echo"
    )
    print(
        f"    core.handle alone (no Telegram)       : {results['core']:8.1f} reports/s"
        f"  = {results['adapter'] / results['core']:.2f} kept through the adapter"
    )
    return {**results, "ratio": ratio}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="updates per bot")
    parser.add_argument("--chats", type=int, default=2, help="group chats the reports come from")
    parser.add_argument("--warmup", type=int, default=50, help="untimed updates first")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.chats, args.warmup))
