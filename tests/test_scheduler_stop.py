"""A clean stop and mark-as-you-go on both databases: a stop gives back the unstarted claims at
once and lets the sends under way finish and be marked; each send is marked as it is answered,
and a lost claim is never overwritten; a second signal exits at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Core, build_core, install_scheduler
from bot.core import Delivered, Outgoing, VirtualClock
from bot.settings import Settings
from scheduler import messages, runner
from scheduler.outbox import NewRow, Outbox
from scheduler.service import StopReport

T0 = dt.datetime(2026, 11, 2, 17, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=120)
ROOT = Path(__file__).resolve().parents[1]


def rows(n: int) -> list[NewRow]:
    payload = messages.encode(Outgoing(to="", text="recap", kind="recap"))
    return [NewRow("d", "recap", "2026-11-02", f"slack:C{i:03d}", T0, payload) for i in range(n)]


async def test_each_send_is_marked_with_its_message_id_and_a_lost_claim_is_not_overwritten(
    engine: AsyncEngine,
) -> None:
    mine = Outbox(engine, worker="mine")
    other = Outbox(engine, worker="other")
    await mine.enqueue(rows(6), T0)
    held = await mine.claim(T0, LEASE, 10)
    # Five answers at once: marked together, each with its own id.
    marked = await asyncio.gather(*(mine.mark_sent(r, f"m{r.id}", T0) for r in held[:5]))
    assert marked == [True] * 5
    # The sixth claim expired and another replica took it: the late mark changes nothing.
    taken = await other.claim(T0 + LEASE + dt.timedelta(seconds=1), LEASE, 10)
    assert [r.id for r in taken] == [held[5].id]
    assert not await mine.mark_sent(held[5], "late", T0)
    stored = {r.id: r for r in await mine.rows()}
    assert all(stored[r.id].status == "sent" for r in held[:5])
    assert [stored[r.id].message_id for r in held[:5]] == [f"m{r.id}" for r in held[:5]]
    assert all(stored[r.id].lease_until is None for r in held[:5])
    assert stored[held[5].id].status == "claimed"
    assert stored[held[5].id].claimed_by == "other" and stored[held[5].id].message_id is None


async def test_given_back_rows_are_pending_at_once_and_another_replicas_are_left_alone(
    engine: AsyncEngine,
) -> None:
    mine = Outbox(engine, worker="mine")
    other = Outbox(engine, worker="other")
    await mine.enqueue(rows(4), T0)
    held = await mine.claim(T0, LEASE, 10)
    taken = await other.claim(T0 + LEASE + dt.timedelta(seconds=1), LEASE, 1)  # one expired
    assert await mine.release_all(held) == 3
    stored = {r.id: r for r in await mine.rows()}
    assert stored[taken[0].id].claimed_by == "other"
    given = [stored[r.id] for r in held if r.id != taken[0].id]
    # Not counted as an attempt, and no lease to wait for: claimable right away.
    assert all(r.status == "pending" and r.lease_until is None for r in given)
    assert all(r.attempts == 0 and r.claimed_by is None for r in given)
    again = await other.claim(T0 + dt.timedelta(seconds=1), LEASE, 10)
    assert sorted(r.id for r in again) == sorted(r.id for r in given)


async def test_the_marks_connection_goes_back_to_the_pool_with_synchronous_commit(
    pg_url: str,
) -> None:
    from contextlib import AsyncExitStack

    from sqlalchemy import text

    from kpi.db import make_engine, upgrade

    await upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        mine = Outbox(engine, worker="mine")
        await mine.enqueue(rows(3), T0)
        held = await mine.claim(T0, LEASE, 10)
        assert await asyncio.gather(*(mine.mark_sent(r, "m", T0) for r in held)) == [True] * 3
        await mine.marks_written()
        # Every pooled connection (the marks one among them) commits synchronously again:
        # ledger writes must never inherit the marks' asynchronous commit.
        async with AsyncExitStack() as stack:
            conns = [await stack.enter_async_context(engine.connect()) for _ in range(3)]
            settings = [(await c.execute(text("SHOW synchronous_commit"))).scalar() for c in conns]
        assert settings == ["on"] * 3
    finally:
        await engine.dispose()


# ------------------------------------------------------------------- the service


@dataclass
class HeldPort:
    """A platform whose answers wait until the test opens the gate."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    two_started: asyncio.Event = field(default_factory=asyncio.Event)
    started: list[str] = field(default_factory=list)
    platform: str = "*"

    async def send(self, message: Outgoing) -> Delivered:
        self.started.append(message.to)
        if len(self.started) >= 2:
            self.two_started.set()
        await self.gate.wait()
        return Delivered(ok=True, message_id=f"m-{message.to}")


@pytest.fixture
async def fan_out(db_url: str) -> AsyncIterator[tuple[Core, HeldPort]]:
    """Six due messages, a scheduler sending two at a time, and a platform that holds answers."""
    clock = VirtualClock(T0)
    settings = Settings(database_url=db_url, _env_file=None)  # type: ignore[call-arg]
    core = await build_core(settings, clock=clock)
    install_scheduler(core, charts=False, concurrency=2, worker="mine")
    port = HeldPort()
    core.add_port(port)
    await Outbox(core.engine, worker="setup").enqueue(rows(6), T0)
    try:
        yield core, port
    finally:
        await core.aclose()


async def test_a_stop_finishes_the_sends_under_way_and_hands_back_the_rest_at_once(
    fan_out: tuple[Core, HeldPort],
) -> None:
    core, port = fan_out
    stop = await runner.start(core.tick, core.clock, core.scheduler, every=3600, grace=10)
    await asyncio.wait_for(port.two_started.wait(), 10)
    stopping = asyncio.create_task(stop())
    other = Outbox(core.engine, worker="other")
    taken: list[object] = []

    async def others_claim() -> None:
        # Another replica takes the four unstarted rows now, not after the 120 s lease.
        while len(taken) < 4:
            taken.extend(await other.claim(T0, LEASE, 10))
            await asyncio.sleep(0.01)

    await asyncio.wait_for(others_claim(), 10)
    assert not stopping.done()  # the two sends under way are still waiting for their answer
    port.gate.set()
    report = await asyncio.wait_for(stopping, 10)
    assert report == StopReport(released=4, in_flight=2, settled=2, left_to_lease=0)
    stored = await other.rows()
    sent = [r for r in stored if r.status == "sent"]
    assert sorted(r.chat for r in sent) == sorted(port.started)
    assert all(r.message_id == f"m-{r.chat}" and r.claimed_by == "mine" for r in sent)
    assert sorted(r.claimed_by or "" for r in stored if r.status == "claimed") == ["other"] * 4
    assert len(port.started) == 2  # nothing was started after the stop


async def test_sends_still_waiting_when_the_grace_runs_out_are_left_to_their_lease(
    fan_out: tuple[Core, HeldPort],
) -> None:
    core, port = fan_out
    stop = await runner.start(core.tick, core.clock, core.scheduler, every=3600, grace=0.2)
    await asyncio.wait_for(port.two_started.wait(), 10)
    report = await asyncio.wait_for(stop(), 10)
    assert report == StopReport(released=4, in_flight=2, settled=0, left_to_lease=2)
    stored = await Outbox(core.engine, worker="x").rows()
    # The platform may still accept those two: never hand them over before the lease.
    assert sorted(r.status for r in stored) == ["claimed"] * 2 + ["pending"] * 4
    assert all(r.lease_until is not None for r in stored if r.status == "claimed")


# ----------------------------------------------------------------------- signals

SIGNALLED = """
import asyncio, logging, sys
from bot.app import StopSignals

async def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    signals = StopSignals()
    signals.install(asyncio.get_running_loop())
    print("ready", flush=True)
    print(await signals.wait(), flush=True)
    await asyncio.sleep(60)  # a drain that takes long

asyncio.run(main())
"""


async def test_the_first_signal_asks_for_a_stop_and_a_second_exits_at_once() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SIGNALLED,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"SIGTERM\n"
        assert proc.returncode is None  # still draining
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 5) == 128 + signal.SIGINT
        err = (await proc.stderr.read()).decode()
        assert "stopping" in err and "second signal: exiting at once" in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_kpibot_run_stops_cleanly_on_sigterm_and_exits_0(tmp_path: Path) -> None:
    from tests.fakes.telegram_api import TOKEN, FakeTelegram

    async with FakeTelegram() as tg:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": tg.base_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "HTTP_PORT": "0",
            "LOG_FORMAT": "json",
        }
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "kpibot"),
            "run",
            cwd=tmp_path,  # no .env here
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        lines: list[dict[str, object]] = []

        async def read_until(message: str) -> None:
            assert proc.stderr is not None
            while not any(line.get("message") == message for line in lines):
                raw = await proc.stderr.readline()
                assert raw, f"kpibot run ended before {message!r}: {lines[-5:]}"
                if raw.startswith(b"{"):
                    lines.append(json.loads(raw))

        try:
            await asyncio.wait_for(read_until("scheduler started"), 60)
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(read_until("stopped"), 30)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    stopped = next(line for line in lines if line.get("message") == "stopped")
    assert {"released", "in_flight", "settled", "left_to_lease", "seconds"} <= set(stopped)
    assert stopped["left_to_lease"] == 0
    messages_logged = [line.get("message") for line in lines]
    assert messages_logged.index("stopping") < messages_logged.index("scheduler stopped")
