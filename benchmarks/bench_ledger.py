"""Ledger write throughput under 16 concurrent reporters: the whole core vs raw single-row commits.

Subject: 16 reporters send ``/report METRIC N DAY`` commands with distinct message ids at the
same time, each awaiting its answer before sending its next, through the whole core (parse,
route, duplicate check, store with group commit, the reads the reply needs, reply), on one
database. Each report is sent on the evening of its day, as the day's livestream figures
usually are. Baseline: 16 concurrent writers on the same kind of database, each taking its next
row and doing one ``INSERT`` of it into the same ``entries`` table plus ``COMMIT`` (one
transaction per row, an engine from ``kpi.db.make_engine``: SQLite WAL with ``BEGIN
IMMEDIATE``, PostgreSQL through asyncpg). The baseline's engine keeps the number of
connections its 16 writers do best with (:data:`RAW_POOL`): on SQLite, fewer connections
than writers, since more of them only fight over the write lock in SQLite's busy wait.

Also shown, not judged: late reports (the same, sent after their period ended, when the
report also reads the period's statement record, in its own transaction, to say what a late
figure does to a closed statement), and the ledger's write alone
(``Ledger.record_report`` from 16 concurrent callers), to tell the group commit's own effect
from the reads around it. Measured as interleaved repetitions (``benchmarks/spread.py``); the
aim (core ÷ raw ≥ 1.0) is judged on the median ratio.

Run: ``python benchmarks/bench_ledger.py [--n 240] [--reps 7] [--backend sqlite|postgres|both]``
(``QUICK=1``: n 96, 5 repetitions).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from spread import Spread, interleave, quick, ratio_cell, ratios, reps
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Core, build_core
from bot.core import Command, VirtualClock
from bot.settings import Settings
from kpi.batch import BatchStats
from kpi.db import make_engine, upgrade
from kpi.dealfile import load_deal
from kpi.ledger import Ledger
from kpi.model import Deal
from kpi.storage import deals, entries

ROOT = Path(__file__).resolve().parents[1]
DEAL = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REPORTERS = 16
AIM = 1.0
METRICS = ("gmv", "orders", "ad_spend", "refunds", "viewers")
FIRST_DAY = dt.date(2026, 11, 1)
DAYS_PER_REP = 40
"""Each repetition reports on its own block of days (the warm-up on the first), so every
report is a first report (a new head); at most 10 reports a day (5 metrics, 2 sides)."""
MAX_REPS = 14
NOW = dt.datetime(2030, 12, 31, 20, tzinfo=dt.UTC)
"""After every block's last day (late reports' blocks too): a day is never in the future."""
LATE = MAX_REPS + 1
"""Late reports use the blocks after the on-time ones'."""
EVENING = dt.time(21, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
"""When a day's report is sent, in the demo deal's time zone."""
RAW_POOL = {"sqlite": (4, 0), "postgresql": (20, 4)}
"""The baseline engine's (pool_size, max_overflow). Measured on the 2-core development
machine, 16 raw writers, rows/s: SQLite 801 with 4 connections, 656 with 8, 510 with
SQLAlchemy's default 5 + 10, 237 with 20 + 4; PostgreSQL 942 with 20 + 4, 968 with 8, 710 with
5 + 10, 660 with 4."""
START = dt.datetime(2026, 10, 25, tzinfo=dt.UTC)
SENDERS = [("telegram:-1001234", "telegram:5001"), ("slack:C0AGENCY", "slack:U0AGENCY1")]
"""The demo deal's seller group and agency channel: reports alternate between the sides."""


def _key(rep: int, i: int) -> tuple[dt.date, str, int]:
    """The (day, metric, side index) of report ``i`` of repetition ``rep`` (-1: the warm-up):
    distinct."""
    pair = i // 2
    day = FIRST_DAY + dt.timedelta(days=(rep + 1) * DAYS_PER_REP + pair // len(METRICS))
    return day, METRICS[pair % len(METRICS)], i % 2


async def _concurrently(n: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Items ``0..n-1`` over :data:`REPORTERS` workers, each awaiting its item before taking
    its next; returns items per second."""

    async def worker(k: int) -> None:
        for i in range(k, n, REPORTERS):
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(REPORTERS)))
    return n / (time.perf_counter() - started)


# ------------------------------------------------------------------------------ subjects


async def bench_core(core: Core, rep: int, n: int, *, late: bool = False) -> float:
    """``/report`` commands through the whole core, each sent on the evening of its day (or,
    ``late``, after its period closed); every answer must be a reply."""
    commands = []
    block = rep + LATE if late else rep
    for i in range(n):
        day, metric, side = _key(block, i)
        chat, user = SENDERS[side]
        text = f"/report {metric} {1000 + i} {day.isoformat()}"
        at = NOW if late else dt.datetime.combine(day, EVENING).astimezone(dt.UTC)
        commands.append(Command(chat=chat, user=user, text=text, at=at, message_id=f"r{block}-{i}"))

    async def one(i: int) -> None:
        replies = await core.handle(commands[i])
        assert replies and replies[0].kind == "reply" and "Saved for" in replies[0].text, replies

    return await _concurrently(n, one)


async def bench_write(ledger: Ledger, deal: Deal, rep: int, n: int) -> float:
    """``Ledger.record_report`` alone, one figure a call, as the core would call it."""

    async def one(i: int) -> None:
        day, metric, side = _key(rep, i)
        await ledger.record_report(
            deal_id=deal.id,
            day=day,
            values=[(metric, Decimal(1000 + i))],
            side="seller" if side == 0 else "agency",
            person=SENDERS[side][1],
            person_name="",
            chat=SENDERS[side][0],
            message_key=f"w{rep}-{i}",
            at=NOW,
            skip_unchanged=True,
        )

    return await _concurrently(n, one)


async def bench_raw(engine: AsyncEngine, rep: int, n: int) -> float:
    """The baseline: each row its own ``INSERT`` + ``COMMIT``, 16 writers at once."""
    rows = []
    for i in range(n):
        day, metric, side = _key(rep, i)
        rows.append(
            dict(
                deal_id="raw",
                day=day,
                metric=metric,
                value=Decimal(1000 + i),
                side="seller" if side == 0 else "agency",
                person=SENDERS[side][1],
                person_name="",
                chat=SENDERS[side][0],
                message_key=f"raw{rep}-{i}",
                recorded_at=NOW,
                supersedes=None,
            )
        )

    async def one(i: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(entries).values(**rows[i]))

    return await _concurrently(n, one)


# --------------------------------------------------------------------------------- rigs


@dataclass
class Rig:
    """One database kind's three databases, set up and warmed once for all repetitions."""

    core: Core
    ledger: Ledger
    deal: Deal
    raw: AsyncEngine


@asynccontextmanager
async def rig(urls: dict[str, str]) -> AsyncIterator[Rig]:
    clock = VirtualClock(NOW)
    core = await build_core(Settings(database_url=urls["core"], _env_file=None), clock=clock)  # type: ignore[call-arg]
    await core.apply_deal_text(DEAL, "bench.yaml")
    deal = load_deal(DEAL, "bench.yaml")
    await upgrade(urls["write"])
    write_engine = make_engine(urls["write"])
    ledger = Ledger(write_engine, lambda text: load_deal(text, "bench.yaml"))
    await ledger.apply_deal(deal, DEAL, effective=deal.starts, applied_at=START)
    await upgrade(urls["raw"])
    pool, overflow = RAW_POOL["sqlite" if urls["raw"].startswith("sqlite") else "postgresql"]
    raw = make_engine(urls["raw"], pool_size=pool, max_overflow=overflow)
    async with raw.begin() as conn:
        await conn.execute(
            insert(deals).values(id="raw", name="raw", current_version=1, created_at=START)
        )
    try:
        # Warm caches and pools, on days no repetition uses.
        await bench_core(core, -1, REPORTERS)
        await bench_core(core, -1, REPORTERS, late=True)
        await bench_write(ledger, deal, -1, REPORTERS)
        await bench_raw(raw, -1, REPORTERS)
        yield Rig(core, ledger, deal, raw)
    finally:
        await core.aclose()
        await write_engine.dispose()
        await raw.dispose()


@asynccontextmanager
async def databases(backend: str) -> AsyncIterator[dict[str, str]]:
    """Three new, empty databases of one kind: ``core``, ``write`` and ``raw``."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield {name: f"sqlite:///{tmp}/{name}.db" for name in ("core", "write", "raw")}
        return
    names = {name: f"kpibot_bench_{uuid.uuid4().hex[:8]}" for name in ("core", "write", "raw")}
    admin = await asyncpg.connect(PG_SERVER)
    try:
        for name in names.values():
            await admin.execute(f'CREATE DATABASE "{name}"')
        yield {key: f"postgresql://postgres@127.0.0.1:5432/{name}" for key, name in names.items()}
    finally:
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@dataclass(frozen=True)
class Result:
    database: str
    core: list[float]
    late: list[float]
    write: list[float]
    raw: list[float]
    per_commit: tuple[float, float]
    """Reports per shared commit in the timed runs: through the core, and the write alone."""


def per_commit(before: BatchStats, after: BatchStats) -> float:
    return (after.writes - before.writes) / max(1, after.batches - before.batches)


async def measure(backend: str, n: int, repetitions: int) -> Result:
    """Core (then the write alone) and raw, interleaved ``repetitions`` times."""
    writes: list[float] = []
    lates: list[float] = []
    async with databases(backend) as urls, rig(urls) as bench:
        start = bench.core.ledger.report_batches, bench.ledger.report_batches

        async def subject(rep: int) -> float:
            rate = await bench_core(bench.core, rep, n)
            lates.append(await bench_core(bench.core, rep, n, late=True))
            writes.append(await bench_write(bench.ledger, bench.deal, rep, n))
            return rate

        async def baseline(rep: int) -> float:
            return await bench_raw(bench.raw, rep, n)

        cores, raws = await interleave(repetitions, subject, baseline)
        batching = (
            per_commit(start[0], bench.core.ledger.report_batches),
            per_commit(start[1], bench.ledger.report_batches),
        )
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    return Result(name, cores, lates, writes, raws, batching)


def median(values: list[float]) -> float:
    return Spread.of(values).median


def table(results: list[Result]) -> list[str]:
    lines = [
        "| database | full core /report per s | late reports per s | write alone per s "
        f"| raw insert+commit per s | core ÷ raw (aim ≥ {AIM:.1f}) | late ÷ raw "
        "| write alone ÷ raw |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.database} | {median(r.core):,.0f} | {median(r.late):,.0f} "
            f"| {median(r.write):,.0f} | {median(r.raw):,.0f} "
            f"| {ratio_cell(ratios(r.core, r.raw), AIM)} | {ratios(r.late, r.raw).text()} "
            f"| {ratios(r.write, r.raw).text()} |"
        )
    return lines


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=96 if quick() else 240)
    parser.add_argument("--reps", type=int, default=reps())
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    args = parser.parse_args()
    if not 0 < args.n <= 10 * DAYS_PER_REP or not 0 < args.reps <= MAX_REPS:
        parser.error(f"--n must be in 1..{10 * DAYS_PER_REP}, --reps in 1..{MAX_REPS}")
    before = load()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = [asyncio.run(measure(b, args.n, args.reps)) for b in backends]
    print("\n".join(table(results)))
    print(
        f"\n{REPORTERS} concurrent reporters, {args.n} reports a repetition, medians of the rates "
        f"and median (min–max, n) of the per-repetition ratios. The baseline is {REPORTERS} "
        "concurrent writers each doing one INSERT + COMMIT per row on the same kind of database. "
        f"Load average (1 / 5 / 15 min): {before} before, {load()} after. Reports per shared "
        "commit (through the core, on time and late; the write alone): "
        + "; ".join(f"{r.database} {r.per_commit[0]:.1f}, {r.per_commit[1]:.1f}" for r in results)
        + "."
    )


if __name__ == "__main__":
    main()
