"""Fan-out crash: the sender is killed (SIGKILL) 20 times during a recap fan-out, each time at a
random point, and a fresh process resumes after each kill.

70 deals share a Monday 09:00 recap, each linked to three chats: 70 recap jobs, then 210
messages. One scheduler process at a time works through them (the replica of
``tests/reliability/fanout_replica.py``: lease 3 s, batches of 20, 4 chats at once, each send
logged *before* 0.1 s of simulated platform latency, so a kill in that latency is a message the
platform accepted but the outbox never marked sent). Each run is killed at a point drawn from a
seeded RNG: after its first claim (a job being decided, or a batch being sent), after 0 to 3
more sends of its own, plus a random part of one send's latency. A last run is left to finish.

It proves that every chat gets its recap, and that a recap is repeated only inside the window
the README documents ("Running several replicas on PostgreSQL"): only a message the killed
process had in flight when it died,
no more of them than it sent to at once, sent again by a later process only after the dead
claim's lease ran out (read from the outbox right after each kill), and promptly after that
by the first process that lived long enough to reach it.

The runs are forked from a ``multiprocessing`` fork server that has already imported kpibot,
so that 21 runs cost milliseconds each to start instead of seconds: still separate processes,
with their own connections, killed by the kernel.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import random
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kpi.db import make_engine
from scheduler import messages
from scheduler.tables import JOB_CHAT, outbox
from tests.reliability.fanout_replica import (
    BASE,
    CHATS_PER_DEAL,
    CONCURRENCY,
    DEALS,
    SEND_LATENCY,
    chats_of,
    child_main,
    read_log,
    setup_deals,
)

pytestmark = pytest.mark.slow

KILLS = 20
SEED = 20261102
ROUND_TIMEOUT = 30.0  # a safety net for a broken run; a passing run never waits for it
PRELOAD = [
    "tests.reliability.test_fanout_crash",
    "bot.app",
    "handlers.registry",
    "scheduler.service",
    "sqlalchemy.dialects.postgresql.asyncpg",
]
"""Imported once by the fork server, so that each run starts at once."""
ALLOWANCE = 8.0
"""Seconds a process that outlives a dead claim's lease may take to send it again: its own
start (reading 70 deals), its claim, the sends ahead of it (generous, for a loaded machine)."""


def run_child(url: str, name: str, log_path: str, epoch: float, err_path: str) -> None:
    """One scheduler run (in a forked process): tick until nothing is pending or claimed."""
    # Its traceback, if any, goes to a file the test shows on failure.
    fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    # A common epoch: every run reads the same scenario clock, so leases written by one run
    # expire on time for the next.
    asyncio.run(child_main(url, name, log_path, epoch))


async def _until(condition: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + ROUND_TIMEOUT
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


@pytest.mark.postgres
@pytest.mark.timeout(150)
async def test_killed_20_times_during_a_recap_fan_out_every_chat_gets_its_recap(
    pg_url: str, tmp_path: Path
) -> None:
    await setup_deals(pg_url)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    rng = random.Random(SEED)
    engine = make_engine(pg_url)
    epoch = time.time()
    started: dict[str, float] = {}
    killed_at: dict[str, float] = {}
    stranded: dict[str, dict[str, float]] = {}
    errors: dict[str, Path] = {}

    async def claimed_by(name: str) -> bool:
        async with engine.connect() as conn:
            found = await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.claimed_by == name)
            )
            return bool(found.scalar_one())

    async def held_by(name: str) -> dict[str, float]:
        """The messages a dead run still held: log key → when its lease ends (wall clock)."""
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.chat, outbox.c.payload, outbox.c.lease_until).where(
                    outbox.c.claimed_by == name,
                    outbox.c.status == "claimed",
                    outbox.c.chat != JOB_CHAT,
                )
            )
            held = {}
            for chat, payload, lease_until in rows:
                first_line = messages.decode(payload, chat).text.splitlines()[0]
                # The runs' clock is BASE plus the seconds since the epoch.
                held[f"{chat}|{first_line}"] = epoch + (lease_until - BASE).total_seconds()
            return held

    def start(name: str) -> Any:
        errors[name] = tmp_path / f"{name}.err"
        proc = ctx.Process(
            target=run_child,
            args=(pg_url, name, str(tmp_path / f"{name}.jsonl"), epoch, str(errors[name])),
            name=name,
            daemon=True,
        )
        proc.start()
        started[name] = time.time()
        return proc

    def stderr_of(name: str) -> str:
        path = errors[name]
        return path.read_text()[-3000:] if path.exists() else ""

    try:
        for round_ in range(KILLS):
            name = f"run{round_:02d}"
            proc = start(name)
            log = tmp_path / f"{name}.jsonl"

            async def claimed(name: str = name, proc: Any = proc) -> bool:
                return not proc.is_alive() or await claimed_by(name)

            await _until(claimed, f"{name} to claim")
            assert proc.is_alive(), f"{name} exited early: {stderr_of(name)}"
            target = len(read_log(log)) + rng.randint(0, 3)

            async def sent(log: Path = log, target: int = target, proc: Any = proc) -> bool:
                return not proc.is_alive() or len(read_log(log)) >= target

            await _until(sent, f"{name} to send")
            await asyncio.sleep(rng.uniform(0, SEND_LATENCY))
            assert proc.is_alive(), f"the fan-out ended before kill {round_ + 1}: {stderr_of(name)}"
            proc.kill()
            killed_at[name] = time.time()
            await asyncio.to_thread(proc.join, ROUND_TIMEOUT)
            assert proc.exitcode == -signal.SIGKILL, stderr_of(name)
            stranded[name] = await held_by(name)
        last = start("last")
        await asyncio.to_thread(last.join, 90)
        assert last.exitcode == 0, stderr_of("last")
        finished = time.time()
        async with engine.connect() as conn:
            rows = (await conn.execute(select(outbox))).all()
    finally:
        await engine.dispose()

    names = [*killed_at, "last"]
    ended = {**killed_at, "last": finished}
    sends: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in names:
        for record in read_log(tmp_path / f"{name}.jsonl"):
            sends[record["key"]].append(record)
    expected = {
        f"{chat}|📊 Weekly recap — Deal {i:04d} — 11-01 to 11-01"
        for i in range(DEALS)
        for chat, _ in chats_of(i)
    }
    assert len(expected) == DEALS * CHATS_PER_DEAL
    assert set(sends) == expected, "every chat got its recap"

    repeated: dict[str, int] = defaultdict(int)
    for key, records in sends.items():
        records.sort(key=lambda r: r["t"])
        for first, again in itertools.pairwise(records):
            # Sent twice only when the first sender died with it in flight (sent, and still
            # claimed, not marked sent, when it was killed) ...
            assert first["proc"] in killed_at, key
            died = killed_at[first["proc"]]
            assert key in stranded[first["proc"]] and first["t"] <= died, key
            # ... by a later process, once the dead claim's lease had run out ...
            lease_end = stranded[first["proc"]][key]
            assert again["proc"] != first["proc"], key
            assert again["t"] >= lease_end - 0.001, key
            # ... and promptly: within ALLOWANCE of the lease's end (or of its own start, if
            # later), the first process that had that long sent it; the last run, which
            # finished everything, always had. Runs killed sooner may not have reached it,
            # the only way a repeat comes later.
            chance = min(
                max(started[run], lease_end)
                for run in names
                if run == "last" or ended[run] - max(started[run], lease_end) >= ALLOWANCE
            )
            assert again["t"] <= chance + ALLOWANCE, key
            repeated[first["proc"]] += 1
    assert all(n <= CONCURRENCY for n in repeated.values()), repeated

    sent_rows = [r for r in rows if r.chat != JOB_CHAT]
    assert len(sent_rows) == DEALS * CHATS_PER_DEAL
    assert all(r.status == "sent" and r.message_id for r in sent_rows)
    assert all(r.status == "done" for r in rows if r.chat == JOB_CHAT)
    # The killed runs left claims that later runs took over once their lease ran out.
    assert any(r.attempts >= 2 for r in rows)
    # Each run did part of the work, and the survivor of the last kill finished it.
    assert len({r["proc"] for rs in sends.values() for r in rs}) > KILLS // 2
