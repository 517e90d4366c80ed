"""The outbox on both databases: idempotent enqueue, exclusive claims, leases, fencing; and the
service around it: downtime and the grace window, restarts, refused DMs, retries, mentions."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import Core, build_core
from bot.core import Command, Delivered, Outgoing, VirtualClock
from bot.settings import Settings
from scheduler.outbox import NewRow, Outbox
from scheduler.service import SchedulerService
from scheduler.tables import JOB_CHAT
from tests.test_scheduler_support import (
    AGENCY,
    AGENCY_CHAT,
    AGENCY_TG,
    LINKED,
    SELLER,
    SELLER_CHAT,
    SHARED_CHAT,
    deal_yaml,
)

T0 = dt.datetime(2026, 11, 2, 17, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=120)


def rows(n: int, *, at: dt.datetime = T0) -> list[NewRow]:
    return [
        NewRow("d", "recap", "2026-11-02", f"slack:C{i:03d}", at, '{"text": "x"}') for i in range(n)
    ]


async def test_enqueue_is_idempotent_and_claims_are_exclusive(engine: AsyncEngine) -> None:
    a = Outbox(engine, worker="a")
    b = Outbox(engine, worker="b")
    await a.enqueue(rows(10), T0)
    await b.enqueue(rows(10), T0)  # another replica enqueues the same slots
    assert len(await a.rows()) == 10
    assert await a.claim(T0 - dt.timedelta(seconds=1), LEASE, 100) == []  # not due yet
    first = await a.claim(T0, LEASE, 6)
    second = await b.claim(T0, LEASE, 6)
    assert len(first) == 6 and len(second) == 4
    assert not {r.id for r in first} & {r.id for r in second}
    assert await b.claim(T0 + dt.timedelta(seconds=10), LEASE, 6) == []  # all held


async def test_an_expired_claim_is_taken_again_and_the_late_writer_is_fenced(
    engine: AsyncEngine,
) -> None:
    dead = Outbox(engine, worker="dead")
    live = Outbox(engine, worker="live")
    await dead.enqueue(rows(3), T0)
    held = await dead.claim(T0, LEASE, 10)
    assert await live.claim(T0 + LEASE, LEASE, 10) == []  # the lease still runs
    taken = await live.claim(T0 + LEASE + dt.timedelta(seconds=1), LEASE, 10)
    assert [r.id for r in taken] == [r.id for r in held]
    assert all(r.attempts == 2 and r.claimed_by == "live" for r in taken)
    # The first holder comes back too late: its writes change nothing.
    assert not await dead.finish(held[0], "sent", T0, message_id="m-dead")
    assert await live.finish(taken[0], "sent", T0, message_id="m-live")
    stored = {r.id: r for r in await live.rows()}
    assert stored[held[0].id].message_id == "m-live"
    assert await live.renew(taken[1:], T0 + 2 * LEASE) == {r.id for r in taken[1:]}
    assert await dead.renew(held[1:], T0 + 2 * LEASE) == set()


# ------------------------------------------------------------------------- the service


@dataclass
class Port:
    """Records sends like the replay port; can refuse DMs or fail sends a number of times."""

    clock: VirtualClock
    platform: str = "*"
    refuse_dm: set[str] = field(default_factory=set)
    fail_next: int = 0
    sent: list[Outgoing] = field(default_factory=list)
    at: list[dt.datetime] = field(default_factory=list)

    async def send(self, message: Outgoing) -> Delivered:
        if message.to.removeprefix("dm:") in self.refuse_dm:
            return Delivered(ok=False, error="dm_refused")
        if self.fail_next:
            self.fail_next -= 1
            return Delivered(ok=False, error="ratelimited")
        self.sent.append(message)
        self.at.append(self.clock.now())
        return Delivered(ok=True, message_id=f"m{len(self.sent)}")


@pytest.fixture
def db_file(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


async def start(url: str, clock: VirtualClock, port: Port | None = None) -> tuple[Core, Port]:
    core = await build_core(Settings(database_url=url, _env_file=None), clock=clock)  # type: ignore[call-arg]
    port = port or Port(clock)
    core.add_port(port)
    return core, port


def service(core: Core) -> SchedulerService:
    found = core.scheduler
    assert isinstance(found, SchedulerService)
    return found


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.fixture
async def first_run(db_file: str) -> AsyncIterator[VirtualClock]:
    """A deal applied on 2026-11-01 with a Monday 09:00 recap; the bot then stops."""
    clock = VirtualClock(local("2026-11-01T00:00:00-07:00"))
    core, _ = await start(db_file, clock)
    await core.apply_deal_text(deal_yaml(schedule="schedule:\n  recap: mon 09:00\n"))
    await core.tick(clock.now())
    await core.aclose()
    yield clock


async def run_once(url: str, clock: VirtualClock, at: str) -> tuple[Port, SchedulerService]:
    """Start the bot at ``at``, tick once, stop."""
    clock.set(local(at))
    core, port = await start(url, clock)
    try:
        await core.tick(clock.now())
        return port, service(core)
    finally:
        await core.aclose()


async def test_downtime_within_grace_sends_once_and_restarts_never_resend(
    db_file: str, first_run: VirtualClock
) -> None:
    clock = first_run
    # Down across Monday 09:00; back six hours later (grace: 12 h).
    port, _ = await run_once(db_file, clock, "2026-11-02T15:00:00-08:00")
    assert sorted(m.to for m in port.sent if m.kind == "recap") == sorted(LINKED)
    for at in ("2026-11-02T15:00:30-08:00", "2026-11-02T18:00:00-08:00"):
        again, _ = await run_once(db_file, clock, at)
        assert again.sent == []


async def test_downtime_past_grace_is_missed_and_the_next_recap_says_so(
    db_file: str, first_run: VirtualClock
) -> None:
    clock = first_run
    await run_once(db_file, clock, "2026-11-02T09:00:00-08:00")
    # Down across Monday 11-09 09:00; back 25 hours later.
    port, svc = await run_once(db_file, clock, "2026-11-10T10:00:00-08:00")
    assert port.sent == []
    jobs = {r.slot: r.status for r in await svc.store.rows(kind="recap", jobs=True)}
    assert jobs == {"2026-11-02": "done", "2026-11-09": "missed"}
    port, _ = await run_once(db_file, clock, "2026-11-16T09:00:00-08:00")
    recaps = [m for m in port.sent if m.kind == "recap"]
    assert len(recaps) == len(LINKED)
    assert "Not sent while the bot was offline (past the grace window): recap 11-09 09:00" in (
        recaps[0].text
    )
    # Mentioned once: the recap after that one does not repeat it.
    port, _ = await run_once(db_file, clock, "2026-11-23T09:00:00-08:00")
    assert all("offline" not in m.text for m in port.sent)


async def test_a_refused_direct_message_becomes_a_note_in_the_linked_chats(db_file: str) -> None:
    clock = VirtualClock(local("2026-11-01T00:00:00-07:00"))
    core, port = await start(db_file, clock, None)
    port.refuse_dm.add(SELLER)
    try:
        schedule = (
            'schedule:\n  pace_check: "10:00"\n  escalation: {after: 4h, repeat: 12h, max: 1}\n'
        )
        await core.apply_deal_text(deal_yaml(schedule=schedule))
        await core.tick(clock.now())
        clock.set(local("2026-11-03T09:00:00-08:00"))
        for day in ("2026-11-01", "2026-11-02"):
            cmd_text = f"/report gmv 1000 ad_spend 250 {day}"
            await core.handle(
                Command(SELLER_CHAT, SELLER, cmd_text, clock.now(), "Lily", f"r-{day}")
            )
        clock.set(local("2026-11-03T10:00:00-08:00"))
        await core.tick(clock.now())
    finally:
        await core.aclose()
    dms = [m.to for m in port.sent if m.to.startswith("dm:")]
    assert dms == [f"dm:{AGENCY}"]
    notes = [m for m in port.sent if "Could not send a direct message" in m.text]
    assert sorted(m.to for m in notes) == sorted(LINKED)
    assert "Seller ops lead" in notes[0].text and "Escalation for" in notes[0].text


async def test_a_failed_send_is_retried_later_not_dropped(db_file: str) -> None:
    clock = VirtualClock(local("2026-11-01T00:00:00-07:00"))
    core, port = await start(db_file, clock)
    try:
        await core.apply_deal_text(deal_yaml(schedule="schedule:\n  recap: mon 09:00\n"))
        port.fail_next = 1
        clock.set(local("2026-11-02T09:00:00-08:00"))
        await core.tick(clock.now())
        assert len(port.sent) == len(LINKED) - 1
        clock.set(local("2026-11-02T09:00:29-08:00"))
        await core.tick(clock.now())
        assert len(port.sent) == len(LINKED) - 1  # backing off (30 s)
        clock.set(local("2026-11-02T09:00:31-08:00"))
        await core.tick(clock.now())
        assert sorted(m.to for m in port.sent) == sorted(LINKED)
        sent = await service(core).store.rows(kind="recap", jobs=False)
        assert sorted(r.attempts for r in sent) == [1, 1, 2]
        assert all(r.status == "sent" and r.message_id for r in sent)
    finally:
        await core.aclose()


async def test_reminder_mentions_the_missing_side_on_the_chat_platform(db_file: str) -> None:
    clock = VirtualClock(local("2026-11-01T00:00:00-07:00"))
    core, port = await start(db_file, clock)
    try:
        await core.apply_deal_text(deal_yaml(schedule='schedule:\n  reminder: "22:30"\n'))
        clock.set(local("2026-11-01T22:30:00-08:00"))
        await core.tick(clock.now())
    finally:
        await core.aclose()
    mentions = {m.to: m.mentions for m in port.sent}
    assert mentions[SELLER_CHAT] == (SELLER, "telegram:5002")
    assert mentions[AGENCY_CHAT] == (AGENCY, "slack:U0AGENCY3")
    # The shared Telegram group can only mention Telegram users.
    assert mentions[SHARED_CHAT] == (SELLER, "telegram:5002", AGENCY_TG)


async def test_job_results_are_kept(db_file: str) -> None:
    clock = VirtualClock(local("2026-11-01T00:00:00-07:00"))
    core, _ = await start(db_file, clock)
    try:
        await core.apply_deal_text(deal_yaml(schedule='schedule:\n  reminder: "22:30"\n'))
        clock.set(local("2026-11-01T22:30:00-08:00"))
        await core.tick(clock.now())
        (job,) = await service(core).store.rows(jobs=True)
    finally:
        await core.aclose()
    assert job.chat == JOB_CHAT and job.status == "done"
    assert json.loads(job.payload or "{}")["missing"] == ["seller", "agency"]
