"""Benchmark: ``/kpi`` on a deal with 3 years of daily figures vs one with 1 month.

``/kpi`` (the period to date against every target, with pace, disagreements and definitions)
reads the current period only, so its cost must not grow with a deal's history. This script
loads the same two deals as ``bench_fee.py`` (whose data loading, database set-up, deal files
and interleaved measurement it reuses: 3 years and 20 days of daily figures against 30 days,
both sides, five metrics), asks ``/kpi`` through the real core (router, handler, ledger,
snapshot, pace) in the same chat and period, and prints the time of each and their ratio (the
aim: at most 1.5x, judged on the median of the repetitions, shown with its min–max), on SQLite
and on PostgreSQL, as a Markdown table (``benchmarks/run.py`` collects it).

Usage::

    .venv/bin/python benchmarks/bench_kpi.py [--backend sqlite|postgres|both] [--reps 7]
        [--block 12] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

``QUICK=1``: SQLite only (unless ``--backend`` says otherwise), 1 year of history instead of
3, 5 repetitions of 5 commands.
Exit status 1 when a median ratio exceeds the limit.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_fee  # noqa: E402


async def main(argv: list[str] | None = None) -> int:
    """``bench_fee``'s measurement, for ``/kpi``."""
    return await bench_fee.main(
        argv,
        command="/kpi",
        expect=("day 20 of 30", "gmv"),
        note="; the history is loaded by `bench_fee.py`'s loader",
        description=(__doc__ or "").splitlines()[0],
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
