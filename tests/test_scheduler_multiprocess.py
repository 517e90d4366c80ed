"""Replicas that stop cleanly and crash cheaply: three scheduler processes on one PostgreSQL.

70 deals share a recap time, each linked to three chats: the recap jobs are run first, leaving
210 messages due at once. Three real OS processes run the scheduler exactly as ``kpibot run``
does (``scheduler.runner``, the default batch of 200 and concurrency of 64, ``StopSignals`` and
``shut_down``) against a fake platform that answers in 100 ms on average. The *victim* starts
first and claims a full batch; the two others start as soon as it holds it. Mid fan-out the
victim is

- killed with SIGKILL: every message is still sent, and only the few the platform had accepted
  but the victim had not yet marked ``sent`` are sent again, after the lease;
- stopped with SIGTERM: it exits 0 having marked everything it sent and given back the rest,
  which the others send on their next tick. Nothing is sent twice.

The fake platform accepts a message when it answers, and each process appends the accepted
message to its log (O_APPEND: a line survives a SIGKILL) right then, before the replica sees
the answer. A kill while a request is still waiting for its answer loses that request, as if
the platform had not accepted it (README, "The duplicate window", says what a platform that
accepts earlier changes).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
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
from tests.reliability.fanout_replica import (
    BASE,
    CHATS_PER_DEAL,
    DEALS,
    OffsetClock,
    chats_of,
    read_log,
    setup_deals,
)

ROOT = Path(__file__).resolve().parents[1]
SEND_LATENCY = (0.05, 0.15)
"""The fake platform's answer time: 100 ms on average, spread as a real platform's is."""
GRACE_SECONDS = 10.0
NAMES = ("alpha", "bravo", "charlie")
VICTIM = "bravo"


# ------------------------------------------------------------------------- the child


@dataclass
class LogPort:
    """A platform that answers in ``SEND_LATENCY`` and accepts the message as it answers."""

    fd: int
    name: str
    platform: str = "*"

    def __post_init__(self) -> None:
        self.random = random.Random(self.name)

    async def send(self, message: Outgoing) -> Delivered:
        await asyncio.sleep(self.random.uniform(*SEND_LATENCY))
        key = f"{message.to}|{message.text.splitlines()[0]}"
        line = json.dumps({"key": key, "proc": self.name, "t": time.time()}) + "\n"
        os.write(self.fd, line.encode())
        return Delivered(ok=True, message_id=f"{self.name}:{key}")


async def outbox_settled(engine: Any) -> None:
    """Return once no row is pending or claimed."""
    from sqlalchemy import func, select

    from scheduler.tables import outbox

    while True:
        async with engine.connect() as conn:
            left = (
                await conn.execute(
                    select(func.count())
                    .select_from(outbox)
                    .where(outbox.c.status.in_(("pending", "claimed")))
                )
            ).scalar_one()
        if not left:
            return
        await asyncio.sleep(0.1)


async def victim_claimed(engine: Any) -> None:
    """Return once the victim holds a claim (the others start then, and take the rest)."""
    from sqlalchemy import func, select

    from scheduler.tables import outbox

    while True:
        async with engine.connect() as conn:
            held = (
                await conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.claimed_by == VICTIM)
                )
            ).scalar_one()
        if held:
            return
        await asyncio.sleep(0.01)


async def child_main(url: str, name: str, log_path: str, start_at: float, lease: int) -> int:
    """One replica, run as ``kpibot run`` runs the scheduler, until a signal or no work left."""
    from bot.app import StopSignals, build_core, install_scheduler, shut_down
    from bot.logs import setup_logging
    from scheduler.runner import start

    settings = Settings(  # type: ignore[call-arg]
        database_url=url,
        outbox_lease_seconds=lease,
        shutdown_grace_seconds=GRACE_SECONDS,
        log_format="json",
        _env_file=None,
    )
    setup_logging(settings)
    signals = StopSignals()
    signals.install(asyncio.get_running_loop())
    clock = OffsetClock(BASE, start_at)
    core = await build_core(settings, clock=clock, migrate=False)
    install_scheduler(core, charts=False, worker=name)  # the default batch and concurrency
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    core.add_port(LogPort(fd, name))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    if name != VICTIM:
        # A replica that has been running a while has the deals loaded: so does this one.
        await core.scheduler.enqueue_due(clock.now())
        await asyncio.wait_for(victim_claimed(core.engine), timeout=60)
    stop = await start(
        core.tick, core.clock, core.scheduler, every=tick_seconds(lease), grace=GRACE_SECONDS
    )
    waiting = [
        asyncio.create_task(signals.wait()),
        asyncio.create_task(outbox_settled(core.engine)),
    ]
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    for task in waiting:
        task.cancel()

    async def close_log() -> None:
        os.close(fd)

    await shut_down(core, stop, [close_log])
    return 0


def tick_seconds(lease: int) -> float:
    """The replicas' tick: a third of a short lease (SIGKILL), 1 s otherwise."""
    return min(1.0, lease / 3)


def child() -> None:
    """Entry point: ``python -c 'from tests.test_scheduler_multiprocess import child; child()'
    URL NAME LOG START_AT LEASE``."""
    url, name, log_path, start_at, lease = sys.argv[1:6]
    raise SystemExit(asyncio.run(child_main(url, name, log_path, float(start_at), int(lease))))


# -------------------------------------------------------------------------- the test


async def setup_fan_out(url: str) -> None:
    """70 deals with a Monday 09:00 recap, their recap jobs run: 210 messages pending."""
    from bot.app import build_core, install_scheduler
    from bot.core import VirtualClock

    await setup_deals(url)
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=VirtualClock(BASE), migrate=False)
    try:
        install_scheduler(core, charts=False, worker="setup")
        service = core.scheduler
        await service.enqueue_due(BASE)
        for job in await service.store.claim(BASE, service.lease, 1000):
            await service.run_job(job, BASE)
    finally:
        await core.aclose()


@dataclass
class Run:
    """Three replica processes and their logs."""

    procs: dict[str, asyncio.subprocess.Process]
    logs: dict[str, Path]
    errors: dict[str, Path]

    def sends(self) -> dict[str, list[dict[str, Any]]]:
        """Every accepted message by key, each with who sent it and when."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for name in NAMES:
            for record in read_log(self.logs[name]):
                found[record["key"]].append(record)
        return found

    def stopped(self, name: str) -> dict[str, Any]:
        """The ``stopped`` log line of a replica."""
        for line in self.errors[name].read_text().splitlines():
            if line.startswith("{") and json.loads(line).get("message") == "stopped":
                return dict(json.loads(line))
        raise AssertionError(f"{name} never logged 'stopped':\n{self.tail(name)}")

    def tail(self, name: str) -> str:
        return self.errors[name].read_text()[-3000:]


async def start_replicas(url: str, tmp_path: Path, lease: int) -> Run:
    run = Run(
        {},
        {name: tmp_path / f"{name}.jsonl" for name in NAMES},
        {name: tmp_path / f"{name}.err" for name in NAMES},
    )
    start_at = time.time() + 5.0  # every process is up and waiting by then
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "from tests.test_scheduler_multiprocess import child; child()"
    for name in NAMES:
        with run.errors[name].open("wb") as err:
            run.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                code,
                url,
                name,
                str(run.logs[name]),
                str(start_at),
                str(lease),
                cwd=ROOT,
                env=env,
                stderr=err,
            )
    return run


SIGNAL_AFTER = 80
"""The victim is signalled once the platform accepted this many of its 200 (mid fan-out)."""


async def signal_mid_fan_out(run: Run, url: str, sig: signal.Signals) -> tuple[float, set[str]]:
    """Send ``sig`` to the victim mid fan-out.

    Returns:
        When, and the chats of the rows the victim held (before a SIGTERM gives them back,
        after a SIGKILL): the rows the others must take over.
    """
    from sqlalchemy import select

    from kpi.db import make_engine
    from scheduler.tables import outbox

    query = select(outbox.c.chat).where(outbox.c.status == "claimed", outbox.c.claimed_by == VICTIM)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:  # opened first: the signal must not wait for it
            deadline = time.time() + 60
            while len(read_log(run.logs[VICTIM])) < SIGNAL_AFTER:
                assert run.procs[VICTIM].returncode is None, run.tail(VICTIM)
                assert time.time() < deadline, "the victim never started sending"
                await asyncio.sleep(0.005)
            if sig == signal.SIGKILL:
                run.procs[VICTIM].send_signal(sig)
                at = time.time()
                await run.procs[VICTIM].wait()
                return at, set((await conn.execute(query)).scalars())
            held = set((await conn.execute(query)).scalars())
            run.procs[VICTIM].send_signal(sig)
            return time.time(), held
    finally:
        await engine.dispose()


def hand_over(sends: dict[str, list[dict[str, Any]]], held: set[str], at: float) -> float:
    """Seconds from ``at`` until a survivor first sent a row the victim had held."""
    taken = [
        r["t"]
        for key, rs in sends.items()
        if key.split("|")[0] in held
        for r in rs
        if r["proc"] != VICTIM and r["t"] > at
    ]
    assert taken, "no survivor took over the victim's rows"
    return round(min(taken) - at, 3)


async def outbox_rows(url: str) -> list[Any]:
    from sqlalchemy import select

    from kpi.db import make_engine
    from scheduler.tables import outbox

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(outbox))).all())
    finally:
        await engine.dispose()


def expected_keys() -> set[str]:
    keys = {
        f"{chat}|📊 Weekly recap — Deal {i:04d} — 11-01 to 11-01"
        for i in range(DEALS)
        for chat, _ in chats_of(i)
    }
    assert len(keys) == DEALS * CHATS_PER_DEAL >= 200
    return keys


async def assert_all_sent_and_marked(url: str) -> None:
    from scheduler.tables import JOB_CHAT

    rows = await outbox_rows(url)
    messages = [r for r in rows if r.chat != JOB_CHAT]
    assert len(messages) == DEALS * CHATS_PER_DEAL
    assert all(r.status == "sent" and r.message_id for r in messages)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_replica_killed_mid_fan_out_leaves_nothing_unsent_and_repeats_at_most_five(
    pg_url: str, tmp_path: Path
) -> None:
    lease = 3
    await setup_fan_out(pg_url)
    run = await start_replicas(pg_url, tmp_path, lease)
    killed_at, held = await signal_mid_fan_out(run, pg_url, signal.SIGKILL)
    for name, proc in run.procs.items():
        await asyncio.wait_for(proc.wait(), timeout=60)
        if name != VICTIM:
            assert proc.returncode == 0, run.tail(name)
    assert run.procs[VICTIM].returncode == -signal.SIGKILL

    sends = run.sends()
    assert set(sends) == expected_keys(), "every message is sent"
    duplicates = {key: rs for key, rs in sends.items() if len(rs) > 1}
    victim_began = min(r["t"] for r in read_log(run.logs[VICTIM]))
    for key, records in duplicates.items():
        first, second = sorted(records, key=lambda r: r["t"])[:2]
        assert len(records) == 2, key
        # Only the dead process's unmarked send is repeated ...
        assert first["proc"] == VICTIM and second["proc"] != VICTIM, key
        assert first["t"] <= killed_at, key
        # ... by a survivor once the dead claim's lease ran out (it runs from the claim, made
        # a little before the victim's first send), and within a tick and a margin after that.
        assert second["t"] >= victim_began + lease - 1.0, key
        assert second["t"] - killed_at <= lease + tick_seconds(lease) + 2.0, key
    # Shown with pytest -s: the figures README's "The duplicate window" quotes.
    print(
        f"\nSIGKILL: {len(duplicates)} sent twice; {len(held)} held, hand-over after"
        f" {hand_over(sends, held, killed_at)} s (lease {lease} s, claimed about"
        f" {killed_at - victim_began:.3f} s before the kill)"
    )
    # Only messages still claimed by the victim at its death (accepted, not yet marked) ...
    assert {key.split("|")[0] for key in duplicates} <= held
    # ... and, with each send marked as its answer arrives, only a few of them.
    assert len(duplicates) <= 5, f"{len(duplicates)} sent twice"
    await assert_all_sent_and_marked(pg_url)
    # The survivors took the victim's claims over once the lease ran out.
    assert hand_over(sends, held, killed_at) <= lease + tick_seconds(lease) + 2.0


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_replica_stopped_mid_fan_out_exits_0_and_the_others_send_the_rest_once(
    pg_url: str, tmp_path: Path
) -> None:
    lease = 60  # far beyond the test's budget: a hand-over that waited for it would fail
    await setup_fan_out(pg_url)
    run = await start_replicas(pg_url, tmp_path, lease)
    stopped_at, held = await signal_mid_fan_out(run, pg_url, signal.SIGTERM)
    await asyncio.wait_for(run.procs[VICTIM].wait(), timeout=GRACE_SECONDS + 5)
    exited_at = time.time()
    for name, proc in run.procs.items():
        await asyncio.wait_for(proc.wait(), timeout=30)
        assert proc.returncode == 0, run.tail(name)

    sends = run.sends()
    assert set(sends) == expected_keys(), "every message is sent"
    assert {k: rs for k, rs in sends.items() if len(rs) > 1} == {}, "nothing is sent twice"
    await assert_all_sent_and_marked(pg_url)

    report = run.stopped(VICTIM)
    print(
        f"\nSIGTERM: exit {run.procs[VICTIM].returncode} after {exited_at - stopped_at:.3f} s"
        f" (drain {report['seconds']} s); {len(held)} held, hand-over after"
        f" {hand_over(sends, held, stopped_at)} s (tick {tick_seconds(lease)} s),"
        f" all sent {max(r['t'] for rs in sends.values() for r in rs) - stopped_at:.3f} s; {report}"
    )
    assert report["released"] > 0, report  # it was mid fan-out, holding unstarted rows
    assert report["in_flight"] > 0 and report["left_to_lease"] == 0, report
    assert report["settled"] == report["in_flight"], report
    assert exited_at - stopped_at < GRACE_SECONDS
    # The others took the given-back rows on their next tick, not after the 60 s lease (the
    # margin is for a loaded CI machine, where a tick itself can take seconds).
    assert hand_over(sends, held, stopped_at) <= tick_seconds(lease) + 4.0
    taken_over = [r for key, rs in sends.items() if key.split("|")[0] in held for r in rs]
    assert sum(r["proc"] != VICTIM for r in taken_over) == report["released"]
