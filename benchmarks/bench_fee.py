"""Benchmark: ``/fee`` on a deal with 3 years of daily figures vs one with 1 month.

The cost of a fee answer must not grow with a deal's history (issue 3): ``/fee`` reads the
current period only. This script loads two deals that differ only in history length, asks
``/fee`` through the real core (router, handler, ledger, fee engine) for the same kind of
period, and prints, on SQLite and on PostgreSQL, a Markdown table (``benchmarks/run.py``
collects it): the time of each and their ratio (the aim: at most 1.5x, judged on the median).
Each repetition asks a block of commands of each deal, the two deals alternating command by
command (``benchmarks/spread.interleave_blocks``), and takes each deal's median and their
ratio; the table shows the median and the min–max over the repetitions.

Usage::

    .venv/bin/python benchmarks/bench_fee.py [--backend sqlite|postgres|both] [--reps 7]
        [--block 12] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

``QUICK=1``: SQLite only (unless ``--backend`` says otherwise), 1 year of history instead of
3, 5 repetitions of 5 commands.
PostgreSQL: a temporary database is created on the server (the URL names the maintenance
database) and dropped afterwards. The history is bulk-loaded straight into the ledger's
``entries`` and ``heads`` tables in batches (one figure per side, metric and day, as
``Ledger.record_report`` would store them), which takes seconds instead of minutes.
Exit status 1 when a median ratio exceeds the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks import spread  # noqa: E402
from bot.app import Core, build_core  # noqa: E402
from bot.core import Command, VirtualClock  # noqa: E402
from bot.settings import Settings  # noqa: E402
from kpi.storage import entries, heads  # noqa: E402

LIMIT = 1.5
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
TZ = ZoneInfo("America/Los_Angeles")
TODAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 23, 0, tzinfo=TZ)
# 3 years and 20 days of daily figures (1 year and 20 days under QUICK=1).
LONG_START = dt.date(2025 if spread.quick() else 2023, 11, 1)
HISTORY = "1 year" if spread.quick() else "3 years"
SHORT_START = dt.date(2026, 10, 22)  # 30 days of daily figures
WARM_UP = 1 if spread.quick() else 5  # commands on each deal before the timing
METRICS = ("gmv", "orders", "ad_spend", "refunds", "viewers")
SIDE_CHAT = {"seller": "seller", "agency": "agency"}
BATCH = 5000
_SUFFIX = {"long-history": "1", "short-history": "2"}  # distinct chat ids, valid on both platforms

TEMPLATE = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")


def deal_text(deal_id: str, starts: dt.date) -> str:
    """The example deal under another id, start date and chats (a chat sees one deal)."""
    text = TEMPLATE.replace("id: acme-linkstar-us", f"id: {deal_id}")
    text = text.replace("starts: 2026-11-01", f"starts: {starts.isoformat()}")
    for old in ("telegram:-1001234", "slack:C0AGENCY", "telegram:-1009999"):
        text = text.replace(old, old + _SUFFIX[deal_id])
    assert f"id: {deal_id}" in text and f"starts: {starts.isoformat()}" in text
    return text


def chat_of(deal_id: str) -> str:
    return "telegram:-1001234" + _SUFFIX[deal_id]


def figure(metric: str, day: dt.date) -> Decimal:
    """A plausible, deterministic daily figure."""
    wobble = day.toordinal() % 7
    return {
        "gmv": Decimal(2000 + 100 * wobble),
        "orders": Decimal(50 + wobble),
        "ad_spend": Decimal(500 + 10 * wobble),
        "refunds": Decimal(100 + wobble),
        "viewers": Decimal(4000 + 50 * wobble),
    }[metric]


async def bulk_load(core: Core, deal_id: str, start: dt.date, end: dt.date) -> int:
    """Insert both sides' figures for every day in ``[start, end]``; returns the entry count."""
    engine = core.ledger.engine
    async with engine.begin() as conn:
        next_id = (
            int((await conn.execute(select(func.coalesce(func.max(entries.c.id), 0)))).scalar_one())
            + 1
        )
    rows: list[dict[str, Any]] = []
    head_rows: list[dict[str, Any]] = []
    day = start
    while day <= end:
        recorded = dt.datetime.combine(day, dt.time(22), tzinfo=TZ)
        for side in ("seller", "agency"):
            for metric in METRICS:
                rows.append(
                    {
                        "id": next_id,
                        "deal_id": deal_id,
                        "day": day,
                        "metric": metric,
                        "value": figure(metric, day),
                        "side": side,
                        "person": f"bench:{side}",
                        "person_name": side,
                        "chat": chat_of(deal_id),
                        "message_key": f"bench:{deal_id}:{day.isoformat()}:{side}",
                        "recorded_at": recorded,
                        "supersedes": None,
                    }
                )
                head_rows.append(
                    {
                        "deal_id": deal_id,
                        "day": day,
                        "metric": metric,
                        "side": side,
                        "entry_id": next_id,
                    }
                )
                next_id += 1
        day += dt.timedelta(days=1)
    async with engine.begin() as conn:
        for at in range(0, len(rows), BATCH):
            await conn.execute(insert(entries), rows[at : at + BATCH])
        for at in range(0, len(head_rows), BATCH):
            await conn.execute(insert(heads), head_rows[at : at + BATCH])
        if conn.dialect.name == "postgresql":
            # Explicit ids bypass the sequence; later ordinary inserts must not collide.
            await conn.execute(
                text("SELECT setval(pg_get_serial_sequence('entries', 'id'), :last)"),
                {"last": next_id - 1},
            )
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
    return len(rows)


async def command_once(
    core: Core, deal_id: str, n: int, command: str, expect: tuple[str, ...]
) -> float:
    """One ``command`` in the deal's seller chat; returns the seconds it took."""
    started = time.perf_counter()
    replies = await core.handle(
        Command(
            chat=chat_of(deal_id),
            user="telegram:5001",
            text=command,
            at=NOW,
            message_id=f"{command.strip('/')}-{deal_id}-{n}",
        )
    )
    elapsed = time.perf_counter() - started
    assert replies and replies[0].kind == "reply", replies
    assert all(word in replies[0].text for word in expect), replies[0].text
    return elapsed


@asynccontextmanager
async def database(backend: str, pg_server: str) -> AsyncIterator[str]:
    """A fresh database URL for the backend, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="kpibot-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"kpibot_bench_{uuid.uuid4().hex[:12]}"
    dsn = make_url(pg_server).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def load_deals(core: Core, backend: str) -> dict[str, int]:
    """Apply both deals and bulk-load their history; returns the entry count of each."""
    loaded = {}
    for deal_id, start in (("long-history", LONG_START), ("short-history", SHORT_START)):
        await core.apply_deal_text(deal_text(deal_id, start), f"{deal_id}.yaml")
        began = time.perf_counter()
        loaded[deal_id] = await bulk_load(core, deal_id, start, TODAY)
        print(
            f"[{backend}] {deal_id}: {loaded[deal_id]:,} entries since {start} "
            f"loaded in {time.perf_counter() - began:.1f}s",
            file=sys.stderr,
        )
    return loaded


async def bench(
    backend: str, args: argparse.Namespace, command: str, expect: tuple[str, ...]
) -> spread.Spread:
    """Time ``command`` on both deals on one backend, interleaved; prints the table row and
    returns the spread of the ratio long / short."""
    async with database(backend, args.pg) as url:
        clock = VirtualClock(NOW)
        core = await build_core(Settings(database_url=url, _env_file=None), clock=clock)  # type: ignore[call-arg]
        try:
            loaded = await load_deals(core, backend)
            for n in range(WARM_UP):  # warm up caches, pools and the deal parser
                await command_once(core, "long-history", -n - 1, command, expect)
                await command_once(core, "short-history", -n - 1, command, expect)
            long, short = await spread.interleave_blocks(
                args.reps,
                args.block,
                lambda n: command_once(core, "long-history", n, command, expect),
                lambda n: command_once(core, "short-history", n, command, expect),
            )
        finally:
            await core.aclose()
    ratio = spread.ratios(long, short)
    cell = spread.goal(
        f"{command} on {backend}: {HISTORY} / 1 month", ratio, LIMIT, at_least=False
    )
    ms = [spread.Spread.of(t).scaled(1000).text(2, count=False) for t in (long, short)]
    entries_text = f"{loaded['long-history']:,} / {loaded['short-history']:,}"
    print(f"| {backend} | {entries_text} | {ms[0]} | {ms[1]} | {cell} |", flush=True)
    return ratio


async def main(
    argv: list[str] | None = None,
    *,
    command: str = "/fee",
    expect: tuple[str, ...] = ("Total to date",),
    note: str = "",
    description: str = (__doc__ or "").splitlines()[0],
) -> int:
    """Run the benchmark of ``command`` on the chosen backends; 1 when a median ratio is over
    the limit. ``bench_kpi.py`` runs it for ``/kpi``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres", "both"),
        default="sqlite" if spread.quick() else "both",
    )
    parser.add_argument("--reps", type=int, default=spread.reps())
    parser.add_argument("--block", type=int, default=5 if spread.quick() else 12)
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL maintenance-database URL")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    print(
        f"`{command}` through the core: {args.reps} repetitions, each the median of "
        f"{args.block} commands on each deal, the deals alternating command by command; median "
        f"(min–max) over the repetitions{note}.\n"
    )
    print(
        f"| database | entries ({HISTORY} / 1 month) | {command} {HISTORY} (ms) "
        f"| {command} 1 month (ms) | ratio {HISTORY} / 1 month (aim ≤ {LIMIT:g}) |"
    )
    print("|---|---|---|---|---|", flush=True)
    medians = [(await bench(b, args, command, expect)).median for b in backends]
    return 0 if max(medians) <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
