"""Benchmark: ``/kpi`` on a deal with 3 years of daily figures vs one with 1 month.

``/kpi`` (the period to date against every target, with pace, disagreements and definitions)
reads the current period only, so its cost must not grow with a deal's history. This script
loads the same two deals as ``bench_fee.py`` (whose data loading, database set-up and deal
files it imports: 3 years and 20 days of daily figures against 30 days, both sides, five
metrics), asks ``/kpi`` through the real core (router, handler, ledger, snapshot, pace) in the
same chat and period, and prints the median time of each and their ratio (the aim: at most
1.5x), on SQLite and on PostgreSQL, as a Markdown table (``benchmarks/run.py`` collects it).

Usage::

    .venv/bin/python benchmarks/bench_kpi.py [--backend sqlite|postgres|both] [--runs 60]
        [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Exit status 1 when a ratio exceeds the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_fee import (  # noqa: E402
    LIMIT,
    LONG_START,
    NOW,
    PG_DEFAULT,
    SHORT_START,
    TODAY,
    bulk_load,
    chat_of,
    database,
    deal_text,
)
from bot.app import Core, build_core  # noqa: E402
from bot.core import Command, VirtualClock  # noqa: E402
from bot.settings import Settings  # noqa: E402

DEALS = (("long-history", LONG_START), ("short-history", SHORT_START))


async def kpi_once(core: Core, deal_id: str, n: int) -> float:
    """One ``/kpi`` in the deal's seller chat; returns the seconds it took."""
    started = time.perf_counter()
    replies = await core.handle(
        Command(
            chat=chat_of(deal_id),
            user="telegram:5001",
            text="/kpi",
            at=NOW,
            message_id=f"kpi-{deal_id}-{n}",
        )
    )
    elapsed = time.perf_counter() - started
    assert replies and replies[0].kind == "reply", replies
    assert "day 20 of 30" in replies[0].text and "gmv" in replies[0].text, replies[0].text
    return elapsed


async def bench(backend: str, runs: int, pg_server: str) -> Decimal:
    """Time ``/kpi`` on both deals on one backend; returns the ratio long / short."""
    async with database(backend, pg_server) as url:
        core = await build_core(
            Settings(database_url=url, _env_file=None),  # type: ignore[call-arg]
            clock=VirtualClock(NOW),
        )
        try:
            loaded = {}
            for deal_id, start in DEALS:
                await core.apply_deal_text(deal_text(deal_id, start), f"{deal_id}.yaml")
                loaded[deal_id] = await bulk_load(core, deal_id, start, TODAY)
            for n in range(5):  # warm up caches, pools and the deal parser
                for deal_id, _ in DEALS:
                    await kpi_once(core, deal_id, -n - 1)
            times: dict[str, list[float]] = {deal_id: [] for deal_id, _ in DEALS}
            for n in range(runs):
                # Interleaved, so that drift (cache, CPU, other load) affects both alike.
                order = DEALS if n % 2 else DEALS[::-1]
                for deal_id, _ in order:
                    times[deal_id].append(await kpi_once(core, deal_id, n))
        finally:
            await core.aclose()
    long_ms = statistics.median(times["long-history"]) * 1000
    short_ms = statistics.median(times["short-history"]) * 1000
    ratio = Decimal(str(long_ms)) / Decimal(str(short_ms))
    verdict = "ok" if ratio <= LIMIT else f"**over {LIMIT}x**"
    entries_text = f"{loaded['long-history']:,} / {loaded['short-history']:,}"
    print(
        f"| {backend} | {entries_text} | {long_ms:.2f} | {short_ms:.2f} | {ratio:.2f} {verdict} |",
        flush=True,
    )
    return ratio


async def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on the chosen backends; 1 when a ratio is over the limit."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL maintenance-database URL")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    print(
        f"`/kpi` through the core, median of {args.runs} interleaved runs each; the history "
        "is loaded by `bench_fee.py`'s loader.\n"
    )
    print(
        "| database | entries (3 years / 1 month) | /kpi 3 years (ms) | /kpi 1 month (ms) "
        "| ratio (aim ≤ 1.5) |"
    )
    print("|---|---|---|---|---|", flush=True)
    worst = Decimal(0)
    for backend in backends:
        worst = max(worst, await bench(backend, args.runs, args.pg))
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
