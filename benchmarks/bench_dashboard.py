"""Benchmark: the dashboard page for a deal with 3 years of history vs one with 1 month, and
50 concurrent viewers.

The page reads the period on show (its entries, verdicts and escalations) and one row per
closed statement, so its cost must not grow with a deal's history. This script loads the same
two deals as ``bench_fee.py`` (its loader, database set-up and deal files), serves the
dashboard on the real aiohttp server, and fetches each deal's page over HTTP, every page
rendered afresh: each repetition fetches a block of pages of each deal, the two deals
alternating page by page (``benchmarks/spread.interleave_blocks``), and takes each deal's
median and their ratio; the aim is at most 1.5x, judged on the median of the repetitions.
Then 50 viewers fetch the 3-year deal's page at once, several times each, without and with the
reuse of a rendered page: the p50, p95 and worst latency and the pages per second (reported,
no aim). Printed as Markdown tables on SQLite and PostgreSQL (``benchmarks/run.py`` collects
them).

Usage::

    .venv/bin/python benchmarks/bench_dashboard.py [--backend sqlite|postgres|both]
        [--reps 7] [--block 8] [--viewers 50] [--rounds 4]
        [--pg postgresql://postgres@127.0.0.1:5432/postgres]

``QUICK=1``: SQLite only (unless ``--backend`` says otherwise), 1 year of history instead of
3, 5 repetitions of 3 pages, no concurrent viewers.
Exit status 1 when a median ratio exceeds the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_fee, spread  # noqa: E402
from bot.app import Core, build_core, dashboard_routes  # noqa: E402
from bot.core import VirtualClock  # noqa: E402
from bot.dashboard.links import Links  # noqa: E402
from bot.dashboard.web import PAGE_SECONDS  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.web import bound_port, build_web_app, serve  # noqa: E402

DEALS = (("long-history", bench_fee.LONG_START), ("short-history", bench_fee.SHORT_START))


async def fetch(session: aiohttp.ClientSession, url: str) -> float:
    """One page; returns the seconds it took (the whole body read)."""
    started = time.perf_counter()
    async with session.get(url) as response:
        body = await response.read()
    elapsed = time.perf_counter() - started
    assert response.status == 200 and b"<table" in body, response.status
    return elapsed


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def page_times(
    urls: dict[str, str], reps: int, size: int
) -> tuple[list[float], list[float]]:
    """Per repetition, the median page time of each deal (long, short), fetched one at a time,
    the deals alternating page by page."""
    async with aiohttp.ClientSession() as session:
        for _ in range(bench_fee.WARM_UP):  # warm up pools, templates and the deal parser
            for url in urls.values():
                await fetch(session, url)
        return await spread.interleave_blocks(
            reps,
            size,
            lambda n: fetch(session, urls["long-history"]),
            lambda n: fetch(session, urls["short-history"]),
        )


async def viewers_at_once(url: str, viewers: int, rounds: int) -> tuple[list[float], float]:
    """``viewers`` clients fetching ``url`` ``rounds`` times each, all at once: every
    latency, and the wall time they took."""
    connector = aiohttp.TCPConnector(limit=viewers)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def viewer() -> list[float]:
            return [await fetch(session, url) for _ in range(rounds)]

        began = time.perf_counter()
        got = await asyncio.gather(*(viewer() for _ in range(viewers)))
        wall = time.perf_counter() - began
    return [t for one in got for t in one], wall


def concurrency_row(backend: str, cache: str, args: argparse.Namespace, got: Any) -> str:
    latencies, wall = got
    return (
        f"| {backend} | {cache} | {args.viewers} × {args.rounds} "
        f"| {percentile(latencies, 0.5) * 1000:.0f} | {percentile(latencies, 0.95) * 1000:.0f} "
        f"| {max(latencies) * 1000:.0f} | {len(latencies) / wall:.1f} |"
    )


async def serve_dashboard(core: Core, page_seconds: float | None) -> web.AppRunner:
    """The dashboard on its own port (``page_seconds=0``: every page rendered afresh)."""
    return await serve(
        build_web_app(dashboard_routes(core, page_seconds=page_seconds)), "127.0.0.1", 0
    )


async def bench(backend: str, args: argparse.Namespace) -> tuple[float, list[str]]:
    """Both measurements on one backend; returns the median ratio and the concurrency rows."""
    async with bench_fee.database(backend, args.pg) as url:
        clock = VirtualClock(bench_fee.NOW)
        settings = Settings(  # type: ignore[call-arg]
            database_url=url, secret_key=SecretStr("bench"), _env_file=None
        )
        core = await build_core(settings, clock=clock)
        runners: list[web.AppRunner] = []
        try:
            loaded = await bench_fee.load_deals(core, backend)
            runners = [await serve_dashboard(core, 0), await serve_dashboard(core, None)]
            links = core.services.dashboard
            assert isinstance(links, Links)
            tokens = {deal: links.token(deal, "seller", clock.now()) for deal, _ in DEALS}
            fresh, cached = (f"http://127.0.0.1:{bound_port(r)}/d/" for r in runners)
            urls = {d: fresh + tok for d, tok in tokens.items()}
            long, short = await page_times(urls, args.reps, args.block)
            rows = [
                concurrency_row(backend, name, args, await viewers_at_once(
                    base + tokens["long-history"], args.viewers, args.rounds))
                for name, base in (("none", fresh), (f"{PAGE_SECONDS:g} s", cached))
                if args.viewers
            ]  # fmt: skip
        finally:
            for runner in runners:
                await runner.cleanup()
            await core.aclose()
    ratio = spread.ratios(long, short)
    history = bench_fee.HISTORY
    cell = spread.goal(
        f"page on {backend}: {history} / 1 month", ratio, bench_fee.LIMIT, at_least=False
    )
    ms = [spread.Spread.of(t).scaled(1000).text(1, count=False) for t in (long, short)]
    entries = f"{loaded['long-history']:,} / {loaded['short-history']:,}"
    print(f"| {backend} | {entries} | {ms[0]} | {ms[1]} | {cell} |", flush=True)
    return ratio.median, rows


def arguments(argv: list[str] | None) -> argparse.Namespace:
    quick = spread.quick()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres", "both"),
        default="sqlite" if spread.quick() else "both",
    )
    parser.add_argument("--reps", type=int, default=spread.reps())
    parser.add_argument("--block", type=int, default=3 if quick else 8)
    parser.add_argument("--viewers", type=int, default=0 if quick else 50, help="0: none")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--pg", default=bench_fee.PG_DEFAULT)
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    """Run on the chosen backends; 1 when a median ratio is over the limit."""
    args = arguments(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    history = bench_fee.HISTORY
    print(
        f"The dashboard page over HTTP (`kpibot web`'s server): {args.reps} repetitions, each "
        f"the median of {args.block} fetches of each deal's page, the deals alternating page by "
        "page; median (min–max) over the repetitions. The history is loaded by `bench_fee.py`'s "
        "loader.\n"
    )
    aim = f"aim ≤ {bench_fee.LIMIT:g}"
    print(f"| database | entries ({history} / 1 month) | page {history} (ms) "
          f"| page 1 month (ms) | ratio {history} / 1 month ({aim}) |")  # fmt: skip
    print("|---|---|---|---|---|", flush=True)
    worst, rows = 0.0, []
    for backend in backends:
        ratio, more = await bench(backend, args)
        worst = max(worst, ratio)
        rows.extend(more)
    print_viewers(rows, history)
    return 0 if worst <= bench_fee.LIMIT else 1


def print_viewers(rows: list[str], history: str) -> None:
    if not rows:
        print("\nConcurrent viewers: in the full run only (`QUICK=1` skips them).")
        return
    print(
        f"\nConcurrent viewers of the page of the deal with {history} of history (one process, "
        "one event loop), without and with the reuse of a rendered page for a few seconds (one "
        "run each):\n"
    )
    print(
        "| database | page reuse | viewers × pages | p50 (ms) | p95 (ms) | worst (ms) | pages/s |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows), flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
