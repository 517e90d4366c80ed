"""Exactly once across replicas: three scheduler processes on one PostgreSQL database.

70 deals share a recap time, each linked to three chats: 210 messages (plus 70 recap jobs)
come due at once. Three real OS processes start together and tick until the outbox is empty;
one is killed with SIGKILL while it is sending. Every message must be sent, and a message may
be sent twice only inside the documented lease window (README, "Running several replicas on
PostgreSQL"): first by the
killed process before it died, again by a survivor after the dead claim's lease expired, no
later than one lease and one tick after the death, and no more of them than the dead process
had in flight.

Each process records a send in its log *before* the simulated platform latency, as a real
platform would accept the message before answering: a kill during that latency is exactly the
"sent but not marked" case the lease exists for.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core import Delivered, Outgoing
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEALS = 70
CHATS_PER_DEAL = 3
LEASE_SECONDS = 3
TICK_SECONDS = 0.05
CONCURRENCY = 4
SEND_LATENCY = 0.1
BASE = dt.datetime.fromisoformat("2026-11-02T09:00:00-08:00")


def chats_of(i: int) -> tuple[tuple[str, str], ...]:
    return (
        (f"telegram:-100{i:04d}", "seller"),
        (f"slack:C{i:04d}AG", "agency"),
        (f"slack:C{i:04d}SH", "shared"),
    )


# ------------------------------------------------------------------------- the child


@dataclass
class LogPort:
    """Appends one JSON line per accepted message (O_APPEND: survives SIGKILL), then waits."""

    fd: int
    name: str
    platform: str = "*"

    async def send(self, message: Outgoing) -> Delivered:
        key = f"{message.to}|{message.text.splitlines()[0]}"
        line = json.dumps({"key": key, "proc": self.name, "t": time.time()}) + "\n"
        os.write(self.fd, line.encode())
        await asyncio.sleep(SEND_LATENCY)
        return Delivered(ok=True, message_id=f"{self.name}:{key}")


@dataclass
class OffsetClock:
    """Scenario time: ``base`` plus the wall-clock seconds since ``epoch`` (shared by all)."""

    base: dt.datetime
    epoch: float

    def now(self) -> dt.datetime:
        return (self.base + dt.timedelta(seconds=time.time() - self.epoch)).astimezone(dt.UTC)


async def child_main(url: str, name: str, log_path: str, start_at: float) -> None:
    """One replica: wait for the common start, tick until nothing is pending or claimed."""
    from sqlalchemy import func, select

    import scheduler
    from bot.app import build_core
    from scheduler.tables import outbox

    settings = Settings(  # type: ignore[call-arg]
        database_url=url, outbox_lease_seconds=LEASE_SECONDS, _env_file=None
    )
    clock = OffsetClock(BASE, start_at)
    core = await build_core(settings, clock=clock, migrate=False)
    scheduler.install(core, charts=False, batch=20, concurrency=CONCURRENCY, worker=name)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    core.add_port(LogPort(fd, name))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    try:
        while True:
            await core.tick(clock.now())
            async with core.ledger.engine.connect() as conn:
                left = (
                    await conn.execute(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.status.in_(("pending", "claimed")))
                    )
                ).scalar_one()
            if not left:
                break
            await asyncio.sleep(TICK_SECONDS)
    finally:
        os.close(fd)
        await core.aclose()


def child() -> None:
    """Entry point: ``python -c 'from tests.test_scheduler_multiprocess import child; child()'
    URL NAME LOG START_AT``."""
    url, name, log_path, start_at = sys.argv[1:5]
    asyncio.run(child_main(url, name, log_path, float(start_at)))


# -------------------------------------------------------------------------- the test


async def setup_deals(url: str) -> None:
    from bot.app import build_core
    from bot.core import VirtualClock
    from tests.test_scheduler_support import deal_yaml

    clock = VirtualClock(dt.datetime.fromisoformat("2026-11-01T00:00:00-07:00"))
    core = await build_core(Settings(database_url=url, _env_file=None), clock=clock)  # type: ignore[call-arg]
    try:
        for i in range(DEALS):
            await core.apply_deal_text(
                deal_yaml(
                    deal_id=f"deal-{i:04d}",
                    name=f"Deal {i:04d}",
                    chats=chats_of(i),
                    schedule="schedule:\n  recap: mon 09:00\n",
                )
            )
    finally:
        await core.aclose()


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_three_replicas_one_killed_send_every_slot_once_outside_the_lease_window(
    pg_url: str, tmp_path: Path
) -> None:
    await setup_deals(pg_url)
    start_at = time.time() + 4.0  # every process is up and waiting by then
    names = ["alpha", "bravo", "charlie"]
    logs = {name: tmp_path / f"{name}.jsonl" for name in names}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "from tests.test_scheduler_multiprocess import child; child()"
    errors = {name: tmp_path / f"{name}.err" for name in names}
    procs = {}
    for name in names:
        with errors[name].open("wb") as err:
            procs[name] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                code,
                pg_url,
                name,
                str(logs[name]),
                str(start_at),
                cwd=ROOT,
                env=env,
                stderr=err,
            )
    victim = "bravo"
    deadline = time.time() + 60
    while len(read_log(logs[victim])) < 12:
        assert procs[victim].returncode is None, errors[victim].read_text()[-3000:]
        assert time.time() < deadline, "the victim never started sending"
        await asyncio.sleep(0.01)
    procs[victim].send_signal(signal.SIGKILL)
    killed_at = time.time()
    for name, proc in procs.items():
        await asyncio.wait_for(proc.wait(), timeout=90)
        if name != victim:
            assert proc.returncode == 0, errors[name].read_text()[-3000:]
    assert procs[victim].returncode == -signal.SIGKILL

    sends: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in names:
        for record in read_log(logs[name]):
            sends[record["key"]].append(record)
    expected = {
        f"{chat}|📊 Weekly recap — Deal {i:04d} — 11-01 to 11-01"
        for i in range(DEALS)
        for chat, _ in chats_of(i)
    }
    assert len(expected) == DEALS * CHATS_PER_DEAL >= 200
    assert set(sends) == expected, "every slot is sent"
    assert {r["proc"] for rs in sends.values() for r in rs} == set(names), "all three worked"

    duplicates = {key: rs for key, rs in sends.items() if len(rs) > 1}
    for key, records in duplicates.items():
        first, second = sorted(records, key=lambda r: r["t"])[:2]
        assert len(records) == 2, key
        # Only the dead process's unconfirmed send is repeated ...
        assert first["proc"] == victim and second["proc"] != victim, key
        assert first["t"] <= killed_at, key
        # ... by a survivor once the dead claim's lease ran out, within one lease and a tick.
        assert second["t"] - first["t"] >= LEASE_SECONDS * 0.8 - 0.5, key
        assert second["t"] - killed_at <= LEASE_SECONDS + 2.0, key
    assert len(duplicates) <= CONCURRENCY, "no more than the victim had in flight"

    from sqlalchemy import select

    from kpi.db import make_engine
    from scheduler.tables import JOB_CHAT, outbox

    engine = make_engine(pg_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(outbox))).all()
    finally:
        await engine.dispose()
    messages = [r for r in rows if r.chat != JOB_CHAT]
    assert len(messages) == DEALS * CHATS_PER_DEAL
    assert all(r.status == "sent" and r.message_id for r in messages)
    assert all(r.status == "done" for r in rows if r.chat == JOB_CHAT)
    # The killed process held claims that survivors had to take over after the lease.
    assert any(r.attempts >= 2 for r in rows)
