"""Ledger write throughput through the whole core vs raw SQLAlchemy Core inserts.

The core path is parse → route (deal, side) → duplicate check → store (entry + head, one
transaction) → reply, for ``/report gmv N`` commands with distinct message ids. The baseline
inserts the same rows into the same ``entries`` table with one ``INSERT`` + ``COMMIT`` each, on
the same database, in the same run. Printed: reports/s for both and their ratio (aim ≥ 0.5).

Run: ``python benchmarks/bench_ledger.py [--n 400] [--backend sqlite|postgres|both]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
from sqlalchemy import insert

from bot.app import build_core
from bot.core import Command, VirtualClock
from bot.settings import Settings
from kpi.db import make_engine, upgrade
from kpi.storage import deals, entries

ROOT = Path(__file__).resolve().parents[1]
DEAL = (ROOT / "bot" / "demo" / "acme-linkstar-us.yaml").read_text(encoding="utf-8")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
START = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
METRICS = ("gmv", "orders", "ad_spend", "refunds", "viewers")


def _row(i: int) -> tuple[dt.date, str]:
    """Distinct (day, metric) per report so every one is a new entry, as in real use."""
    return dt.date(2026, 11, 1) + dt.timedelta(days=(i // len(METRICS)) % 28), METRICS[
        i % len(METRICS)
    ]


async def bench_core(url: str, n: int) -> float:
    clock = VirtualClock(dt.datetime(2026, 11, 29, 20, tzinfo=dt.UTC))
    core = await build_core(Settings(database_url=url, _env_file=None), clock=clock)  # type: ignore[call-arg]
    await core.apply_deal_text(DEAL, "bench.yaml")
    # Spread reports over sides and chats as in a real deal.
    senders = [("telegram:-1001234", "telegram:5001"), ("slack:C0AGENCY", "slack:U0AGENCY1")]
    commands = []
    for i in range(n):
        day, metric = _row(i // 2)
        chat, user = senders[i % 2]
        commands.append(
            Command(
                chat=chat,
                user=user,
                text=f"/report {metric} {1000 + i} {day.isoformat()}",
                at=clock.now(),
                message_id=f"b-{i}",
            )
        )
    await core.handle(commands[0])  # warm caches
    t0 = time.perf_counter()
    for cmd in commands[1:]:
        replies = await core.handle(cmd)
        assert replies and replies[0].kind == "reply", replies
    elapsed = time.perf_counter() - t0
    await core.aclose()
    return (n - 1) / elapsed


async def bench_raw(url: str, n: int) -> float:
    await upgrade(url)
    engine = make_engine(url)
    rows = []
    for i in range(n):
        day, metric = _row(i // 2)
        rows.append(
            dict(
                deal_id="raw",
                day=day,
                metric=metric,
                value=Decimal(1000 + i),
                side="seller" if i % 2 == 0 else "agency",
                person="telegram:5001",
                person_name="",
                chat="telegram:-1001234",
                message_key=f"raw-{i}",
                recorded_at=START,
                supersedes=None,
            )
        )
    async with engine.begin() as conn:
        await conn.execute(
            insert(deals).values(id="raw", name="raw", current_version=1, created_at=START)
        )
        await conn.execute(insert(entries).values(**rows[0]))
    t0 = time.perf_counter()
    for row in rows[1:]:
        async with engine.begin() as conn:
            await conn.execute(insert(entries).values(**row))
    elapsed = time.perf_counter() - t0
    await engine.dispose()
    return (n - 1) / elapsed


async def _pg_database() -> tuple[str, str]:
    name = f"kpibot_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_SERVER)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name, f"postgresql://postgres@127.0.0.1:5432/{name}"


async def _drop(name: str) -> None:
    conn = await asyncpg.connect(PG_SERVER)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def run(backend: str, n: int) -> list[tuple[str, float, float]]:
    results = []
    if backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            raw = await bench_raw(f"sqlite:///{tmp}/raw.db", n)
            core = await bench_core(f"sqlite:///{tmp}/core.db", n)
        results.append(("SQLite", core, raw))
    if backend in ("postgres", "both"):
        name_raw, url_raw = await _pg_database()
        name_core, url_core = await _pg_database()
        try:
            raw = await bench_raw(url_raw, n)
            core = await bench_core(url_core, n)
        finally:
            await _drop(name_raw)
            await _drop(name_core)
        results.append(("PostgreSQL", core, raw))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    args = parser.parse_args()
    results = asyncio.run(run(args.backend, args.n))
    print("| database | full core /report per s | raw insert+commit per s | ratio (aim ≥ 0.5) |")
    print("|---|---|---|---|")
    for name, core, raw in results:
        print(f"| {name} | {core:,.0f} | {raw:,.0f} | {core / raw:.2f} |")


if __name__ == "__main__":
    main()
