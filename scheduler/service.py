"""The scheduler's tick: enqueue what came due, claim it, decide jobs, send messages.

``tick(now)`` runs three steps, each safe to run in any number of replicas at once:

1. **Enqueue.** For every deal and job kind (recap, pace check, reminder), the slots that came
   due since the (deal, kind) cursor are stored as job rows. A slot older than the grace window
   (``missed_grace_hours``) is stored as ``missed`` instead, and the next recap mentions it.
2. **Claim and run.** Due rows are claimed under a lease (``outbox_lease_seconds``). A job row
   is decided (:mod:`scheduler.jobs`) and replaced by its messages and escalations in one
   transaction; a message row is paced, sent through ``core.deliver``, and marked ``sent``
   with the platform's message id.
3. **Escalations advance** by the same claim: every message of an escalation is an outbox row
   due at its own time (deferred past quiet hours), and ``/ack`` cancels the ones not yet sent,
   as does a pace check that finds a pace escalation's target back on pace.

While a batch is being sent, a heartbeat renews its lease, so only a replica that *died* loses
its claims; a claim is never sent after its lease could have expired. A replica that is told to
stop (:meth:`SchedulerService.begin_stop`) claims nothing more, gives back every claimed row it
has not started, in one transaction, and lets the sends under way finish and be marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core import Clock, Delivered, Outgoing, limits_of
from bot.core.i18n import t
from bot.core.ports import Delivery, PlatformData
from kpi.model import Deal
from scheduler import messages
from scheduler.escalation import (
    Escalations,
    merged_notice,
    notice_groups,
    resolve_escalation,
    start_escalation,
)
from scheduler.jobs import JobOutcome, Jobs, RecapLedger, withdrawn
from scheduler.outbox import (
    NewRow,
    Outbox,
    OutboxNotices,
    OutboxRow,
    insert_ignore,
    row_values,
)
from scheduler.pacing import Pacer
from scheduler.recap import render_chart
from scheduler.slots import JOB_KINDS, defer_quiet, due_slots, in_quiet, next_slot
from scheduler.tables import JOB_CHAT, outbox

__all__ = ["SchedulerConfig", "SchedulerService", "StopReport", "default_worker"]

log = logging.getLogger("kpibot.scheduler")

Sleep = Callable[[float], Awaitable[None]]

MAX_ATTEMPTS = 5
"""Sends (or job runs) tried before a row is marked failed."""
MAX_BACKOFF = dt.timedelta(minutes=30)


def default_worker() -> str:
    """A claim name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclasses.dataclass(frozen=True)
class StopReport:
    """What a stopping replica did with the rows it had claimed (logged with ``stopped``)."""

    released: int = 0
    """Claimed rows not started, given back (pending) at once for the other replicas."""
    in_flight: int = 0
    """Sends (and jobs) under way when the stop began."""
    settled: int = 0
    """Of those, the ones that finished and were marked (sent, failed...) before the exit."""
    left_to_lease: int = 0
    """Still under way when the grace period ran out: cancelled, retried after their lease."""


def _backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(seconds=30) * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


@dataclasses.dataclass(frozen=True)
class SchedulerConfig:
    """The scheduler's settings (``OUTBOX_LEASE_SECONDS``, ``MISSED_GRACE_HOURS``,
    ``REPLICAS``)."""

    lease_seconds: float = 120
    """How long a claimed row is this replica's before another may take it."""
    missed_grace_hours: float = 12
    """A slot older than this when first seen is stored as missed, not sent late."""
    replicas: int = 1
    """Replicas sending for the same bot tokens; each keeps to its share of the budgets."""


class SchedulerService:
    """The scheduled side of one bot process."""

    def __init__(
        self,
        *,
        ledger: RecapLedger,
        platform: PlatformData,
        outbox: Outbox,
        delivery: Delivery,
        clock: Clock,
        config: SchedulerConfig | None = None,
        pacer: Pacer | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        batch: int = 200,
        concurrency: int = 64,
        charts: bool = True,
    ) -> None:
        """Create the service.

        Args:
            ledger: The ledger's read side (deals, links, figures).
            platform: The imported platform figures (recaps compare with them).
            outbox: The outbox store, with this replica's claim name.
            delivery: Sends a message through its platform's port.
            clock: The time source (virtual in replay and tests).
            config: Lease, grace window and replica count (``Settings`` gives them).
            pacer: Paces sends (default: the limits each port declares, real time, this
                replica's ``1 / REPLICAS`` share of each platform-wide budget).
            sleep: How the heartbeat waits (injectable so tests never wait).
            monotonic: Elapsed-time source for the lease deadline.
            batch: Rows claimed at a time.
            concurrency: Chats sent to at once (each chat's messages go in order).
            charts: Whether recaps carry their chart.
        """
        self.ledger = ledger
        self.delivery = delivery
        self.clock = clock
        self.config = config or SchedulerConfig()
        self.store = outbox
        self.jobs = Jobs(ledger, self.store, platform, charts=charts)
        self.escalations = Escalations(self.store)
        self.notices = OutboxNotices(self.store)
        # Platform-wide budgets are per bot token, shared by every replica sending with it.
        self.pacer = pacer or Pacer(
            sleep=sleep, monotonic=monotonic, share=1 / max(self.config.replicas, 1)
        )
        self._sleep = sleep
        self._monotonic = monotonic
        self.batch = batch
        self.concurrency = concurrency
        self._deals: dict[str, tuple[int, Deal]] = {}
        self._stopping = False
        self._batches: set[_Batch] = set()
        self._released = 0

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.config.lease_seconds)

    @property
    def grace(self) -> dt.timedelta:
        return dt.timedelta(hours=self.config.missed_grace_hours)

    async def tick(self, now: dt.datetime) -> None:
        """Run everything due up to ``now``, then update the outbox gauges of ``/metrics``."""
        try:
            await self.enqueue_due(now)
            await self.drain(now)
        finally:
            await self.update_gauges()

    async def update_gauges(self) -> None:
        """Set ``kpibot_outbox_lag_seconds`` and ``kpibot_escalations_open`` from the database.

        The lag is the age of the oldest due row not yet sent (0 when none), measured after the
        tick worked, so it shows what this tick could not send. Every replica reads the same
        shared tables and reports the same values: aggregate them with ``max``, not ``sum``.
        A database that cannot be read leaves the gauges as they were; the tick's own failure,
        if any, is what the runner logs.
        """
        from bot.core import metrics

        try:
            present = self.clock.now()
            oldest = await self.store.oldest_unsent_due(present)
            opened = await self.escalations.open_count()
        except Exception as exc:
            log.warning("could not update the outbox gauges: %s", type(exc).__name__)
            return
        lag = 0.0 if oldest is None else max((present - oldest).total_seconds(), 0.0)
        metrics.OUTBOX_LAG.set(lag)
        metrics.ESCALATIONS_OPEN.set(opened)

    # ---------------------------------------------------------------------- stop

    async def begin_stop(self) -> StopReport:
        """Stop claiming, and give back at once every claimed row whose work has not started.

        The rows given back are pending again with their lease cleared, so the other replicas
        take them on their next tick instead of after the lease. Sends under way go on; wait
        for the running tick, then call :meth:`end_stop`.

        Returns:
            How many rows were given back and how many sends were under way.
        """
        self._stopping = True
        rows = [row for batch in self._batches for row in batch.give_back()]
        in_flight = self.in_flight()
        await self._give_back(rows)
        return StopReport(released=self._released, in_flight=in_flight)

    def in_flight(self) -> int:
        """Sends (and jobs) under way now."""
        return sum(batch.in_flight() for batch in self._batches)

    async def end_stop(self, report: StopReport, left: int) -> StopReport:
        """Wait for the last ``sent`` marks, and give the final counts.

        Args:
            report: What :meth:`begin_stop` returned.
            left: Sends still under way when the grace period ran out (then cancelled).
        """
        await self.store.marks_written()
        return dataclasses.replace(
            report,
            released=self._released,
            settled=max(report.in_flight - left, 0),
            left_to_lease=left,
        )

    async def _give_back(self, rows: Sequence[OutboxRow]) -> None:
        try:
            self._released += await self.store.release_all(rows)
        except Exception:
            # The database is gone: the rows wait for their lease, as after a crash.
            log.exception("could not give back the claimed rows; they wait for their lease")

    # ------------------------------------------------------------------- enqueue

    async def _deal(self, deal_id: str, version: int | None = None) -> Deal | None:
        cached = self._deals.get(deal_id)
        if cached is not None and version is not None and cached[0] == version:
            return cached[1]
        current = await self.ledger.current_deal(deal_id)
        if current is None:
            return None
        deal, found = current
        self._deals[deal_id] = (found, deal)
        return deal

    async def enqueue_due(self, now: dt.datetime) -> int:
        """Store a job row for every slot that came due up to ``now``; returns how many."""
        cursors = await self.store.cursors()
        stored = 0
        for deal_id, version, created in await self.ledger.deal_heads():
            deal = await self._deal(deal_id, version)
            if deal is None:
                continue
            for kind in JOB_KINDS:
                slots = due_slots(
                    deal, kind, after=cursors.get((deal_id, kind)), origin=created, now=now
                )
                if not slots:
                    continue
                rows = [
                    NewRow(
                        deal_id,
                        kind,
                        slot.key,
                        JOB_CHAT,
                        slot.due,
                        status="pending" if now - slot.due <= self.grace else "missed",
                    )
                    for slot in slots
                ]
                for row in rows:
                    if row.status == "missed":
                        log.warning(
                            "missed slot (past the grace window)",
                            extra={"deal": deal_id, "kind": kind, "slot": row.slot},
                        )
                await self.store.record_slots(deal_id, kind, rows, now)
                stored += len(rows)
        return stored

    async def next_due(self, after: dt.datetime) -> dt.datetime | None:
        """The earliest instant strictly after ``after`` at which something comes due.

        That is the next job slot of any deal (recap, pace check, reminder, on the deal's wall
        clock and past its cursor) or the due time of the earliest pending outbox row
        (escalation notices, quiet-hour deferrals, retries). Replay moves its virtual clock
        there, so that every scheduled thing happens at its own time, not at the script's next
        line.

        Args:
            after: An aware instant, usually the present.

        Returns:
            That instant (UTC), or ``None`` when nothing is scheduled at all.
        """
        found: list[dt.datetime] = []
        cursors = await self.store.cursors()
        for deal_id, version, created in await self.ledger.deal_heads():
            deal = await self._deal(deal_id, version)
            if deal is None:
                continue
            for kind in JOB_KINDS:
                slot = next_slot(
                    deal, kind, after=after, cursor=cursors.get((deal_id, kind)), origin=created
                )
                if slot is not None:
                    found.append(slot.due)
        pending = await self.store.next_pending(after)
        if pending is not None:
            found.append(pending)
        return min(found, default=None)

    # --------------------------------------------------------------------- drain

    async def drain(self, now: dt.datetime, *, max_rounds: int = 1000) -> None:
        """Claim and handle due rows until none is left (or ``max_rounds`` batches).

        Each batch is held under one lease, renewed by a heartbeat while the batch is worked
        on. A row is only sent while the lease surely still covers it: before its lease could
        have run out (measured from before the claim or the last renewal), and only if the
        last renewal found it still held.
        """
        for _ in range(max_rounds):
            if self._stopping:
                return
            claimed_at = self._monotonic()
            rows = await self.store.claim(now, self.lease, self.batch, at=self.clock.now())
            if not rows:
                return
            if self._stopping:  # the stop began while this claim was being made
                await self._give_back(rows)
                return
            batch = _Batch({row.id: row for row in rows}, claimed_at + self._safe_lease())
            self._batches.add(batch)
            heartbeat = asyncio.create_task(self._heartbeat(batch))
            try:
                for row in (r for r in rows if r.is_job):
                    if not batch.start(row):
                        continue  # given back by a stop
                    try:
                        await self.run_job(row, now)
                    finally:
                        batch.done(row)
                await self._send_all([r for r in rows if not r.is_job], batch)
            finally:
                self._batches.discard(batch)
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    def _safe_lease(self) -> float:
        # A margin for the database round trip that records a send after it happened.
        return self.lease.total_seconds() * 0.8

    async def _heartbeat(self, batch: _Batch) -> None:
        while True:
            await self._sleep(self.lease.total_seconds() / 3)
            rows = list(batch.held.values())
            if not rows:
                continue
            started = self._monotonic()
            try:
                kept = await self.store.renew(rows, self.clock.now() + self.lease)
            except Exception:
                log.exception("could not renew the outbox lease")
                continue
            batch.renewed(kept, started + self._safe_lease())

    async def run_job(self, row: OutboxRow, now: dt.datetime) -> None:
        """Decide one claimed job row: its messages and escalations replace it, in one
        transaction (a job for a deal that no longer exists is skipped)."""
        deal = await self._deal(row.deal_id)
        if deal is None:
            await self.store.finish(row, "skipped", now, error="unknown deal")
            return
        try:
            outcome = await self.jobs.run(row, deal, now)
            if outcome.chart is not None:
                chart = await asyncio.to_thread(render_chart, outcome.chart, deal.locale)
                outcome.messages = [_attach(m, chart) for m in outcome.messages]
        except Exception as exc:
            log.exception("scheduled job failed", extra={"deal": row.deal_id, "kind": row.kind})
            await self._failed(row, now, f"{type(exc).__name__}: {exc}")
            return
        await self._store_outcome(row, outcome, now)

    async def _store_outcome(self, row: OutboxRow, outcome: JobOutcome, now: dt.datetime) -> None:
        async def fan_out(conn: AsyncConnection) -> None:
            # Ended first: a line about one an /ack ended meanwhile is taken back out of the
            # check's message; the notes to those it reached go after that message.
            notes: list[NewRow] = []
            missed: list[str] = []
            for ended in outcome.resolutions:
                told = await resolve_escalation(conn, ended, now)
                if told is None:
                    missed.append(ended.line)
                else:
                    notes += told
            rows = withdrawn(outcome.messages, missed) if missed else outcome.messages
            for batch in (rows, notes):
                await insert_ignore(
                    conn, outbox, [row_values(m, now) for m in sorted(batch, key=_key)]
                )
            for new in outcome.escalations:
                await start_escalation(conn, new, now)

        status = (
            "done" if outcome.messages or outcome.escalations or outcome.resolutions else "skipped"
        )
        if status == "skipped":
            outcome.result.setdefault("reason", "nothing to say")
        kept = await self.store.finish(
            row, status, now, payload=json.dumps(outcome.result, sort_keys=True), extra=fan_out
        )
        if not kept:
            log.warning("lost the claim on a job; another replica runs it", extra={"row": row.id})

    async def _failed(self, row: OutboxRow, now: dt.datetime, error: str) -> None:
        if row.attempts >= MAX_ATTEMPTS:
            await self.store.finish(row, "failed", now, error=error)
        else:
            await self.store.retry_later(row, now + _backoff(row.attempts), error)

    # ---------------------------------------------------------------------- send

    async def _send_all(self, rows: Sequence[OutboxRow], batch: _Batch) -> None:
        """Send claimed messages: each chat's in order, chats concurrently, all paced."""
        rows = await self._drop_superseded(rows, batch)
        rows, merged = await self._merge_notices(rows)
        by_chat: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_chat.setdefault(row.chat, []).append(row)
        gate = asyncio.Semaphore(self.concurrency)

        async def chat_worker(chat_rows: list[OutboxRow]) -> None:
            async with gate:
                for row in chat_rows:
                    others = merged.get(row.id, [])
                    try:
                        sent = await self._send(row, batch)
                        # The merged notices went with it, or go again on their own.
                        for other in others:
                            if sent:
                                await self.store.finish(other, "sent", self.clock.now())
                            else:
                                await self.store.release(other)
                    finally:
                        batch.done(row)
                        for other in others:
                            batch.done(other)

        await asyncio.gather(*(chat_worker(chat_rows) for chat_rows in by_chat.values()))

    async def _merge_notices(
        self, rows: Sequence[OutboxRow]
    ) -> tuple[list[OutboxRow], dict[int, list[OutboxRow]]]:
        """Notices of several open escalations due to one person at once become one message
        (sent as the first row; the others are marked sent with it)."""
        merged: dict[int, list[OutboxRow]] = {}
        replaced: dict[int, OutboxRow] = {}
        for group in notice_groups(rows):
            deal = await self._deal(group[0].deal_id)
            if deal is None:
                continue
            records = {e.id: e for e in await self.escalations.of_deal(deal.id)}
            # An acknowledged one is left to _send, which cancels it.
            live = [
                r
                for r in group
                if getattr(records.get(r.escalation_id or 0), "status", "") == "open"
            ]
            if len({r.escalation_id for r in live}) < 2:
                continue
            notices = [(records[r.escalation_id or 0], r.slot) for r in live]
            payload = messages.encode(merged_notice(deal, notices))
            first, *others = live
            replaced[first.id] = dataclasses.replace(first, payload=payload)
            merged[first.id] = others
        gone = {o.id for others in merged.values() for o in others}
        return [replaced.get(r.id, r) for r in rows if r.id not in gone], merged

    async def _drop_superseded(self, rows: Sequence[OutboxRow], batch: _Batch) -> list[OutboxRow]:
        """After an outage several notices of one escalation to one person can be due at once;
        only the latest is sent, the earlier ones are marked skipped."""
        latest: dict[tuple[int, str], OutboxRow] = {}
        for row in rows:
            if row.escalation_id is None or not row.chat.startswith("dm:") or "!" in row.slot:
                continue
            key = (row.escalation_id, row.chat)
            if key not in latest or _round(row) > _round(latest[key]):
                latest[key] = row
        kept = []
        now = self.clock.now()
        for row in rows:
            winner = latest.get((row.escalation_id, row.chat)) if row.escalation_id else None
            if winner is not None and winner.id != row.id:
                await self.store.finish(row, "skipped", now, error=f"superseded by {winner.slot}")
                batch.done(row)
            else:
                kept.append(row)
        return kept

    async def _quiet_until(self, row: OutboxRow, now: dt.datetime) -> dt.datetime | None:
        """When an escalation message that came due in quiet hours may go (None: now)."""
        deal = await self._deal(row.deal_id)
        if deal is None:
            return None
        quiet = deal.schedule.escalation.quiet
        if not in_quiet(now, quiet, deal.timezone):
            return None
        return defer_quiet(now, quiet, deal.timezone)

    async def _send(self, row: OutboxRow, batch: _Batch) -> bool:
        """Send one claimed row; whether it was delivered."""
        if row.id in batch.given_back:
            return False
        now = self.clock.now()
        if row.escalation_id is not None:
            status = await self.store.escalation_status(row.escalation_id)
            if status != "open":
                # Acknowledged, or resolved by a pace check (back on pace): not to be sent.
                why = "resolved" if status == "resolved" else "acknowledged"
                await self.store.finish(row, "cancelled", now, error=why)
                return False
            # Due before the quiet hours but only reached in them (the bot was down): wait.
            later = await self._quiet_until(row, now)
            if later is not None:
                await self.store.postpone(row, later)
                return False
        if row.payload is None:
            await self.store.finish(row, "failed", now, error="no payload")
            return False
        msg = messages.decode(row.payload, row.chat)
        port = self.delivery.port_for(row.chat)
        if port is not None:
            await self.pacer.wait(row.chat, limits_of(port), cost=1 + len(msg.files))
        if not batch.start(row):
            return False  # a stop gave it back while it waited: another replica sends it
        if not batch.covers(row, self._monotonic()):
            # Our claim may have expired: another replica may take the row; never race it.
            await self.store.release(row)
            return False
        # Nothing may await between start() and deliver(): a stop gives back exactly the rows
        # not started, and every started one is sent and marked.
        try:
            delivered = await self.delivery.deliver(msg)
        except Exception as exc:  # an adapter should not raise; never let one stop the batch
            log.exception("delivery raised", extra={"to": row.chat})
            delivered = Delivered(ok=False, error=type(exc).__name__)
        now = self.clock.now()
        if delivered.ok:
            if not await self.store.mark_sent(row, delivered.message_id, now):
                log.warning("sent after losing the claim", extra={"row": row.id, "to": row.chat})
            return True
        error = delivered.error or "refused"
        if error == "dm_refused" and row.chat.startswith("dm:"):
            notes = await self._refusal_notes(row, msg, now)

            async def note(conn: AsyncConnection) -> None:
                await insert_ignore(conn, outbox, [row_values(n, now) for n in notes])

            await self.store.finish(row, "failed", now, error=error, extra=note)
            return False
        log.warning("delivery refused", extra={"to": row.chat, "error": error})
        await self._failed(row, now, error)
        return False

    async def _refusal_notes(self, row: OutboxRow, msg: Outgoing, now: dt.datetime) -> list[NewRow]:
        """A note in every linked chat that a contact could not be reached directly."""
        deal = await self._deal(row.deal_id)
        if deal is None:
            return []
        person = row.chat.removeprefix("dm:")
        name = next((c.name for c in deal.contacts if c.who == person and c.name), person)
        text = t("escalation.dm_refused", deal.locale, who=name, text=msg.text)
        payload = messages.encode(Outgoing(to="", text=text, kind="escalation"))
        return [
            NewRow(
                row.deal_id,
                row.kind,
                f"{row.slot}!{row.chat}",
                chat,
                now,
                payload,
                escalation_id=row.escalation_id,
            )
            for chat, _ in await self.ledger.chats_of_deal(row.deal_id)
        ]


class _Batch:
    """The rows of one claim still being worked on, and until when the lease surely holds.

    A row is *started* from the moment its send (or job) begins; until then a stop may give it
    back. Both happen without an ``await`` in between, so no row is both sent and given back.
    """

    def __init__(self, held: dict[int, OutboxRow], safe_until: float) -> None:
        self.held = held
        self.safe_until = safe_until
        self.lost: set[int] = set()
        self.started: set[int] = set()
        self.given_back: set[int] = set()

    def start(self, row: OutboxRow) -> bool:
        """Mark a row's work as begun; False when a stop already gave it back."""
        if row.id in self.given_back:
            return False
        self.started.add(row.id)
        return True

    def give_back(self) -> list[OutboxRow]:
        """Take every held row not started out of the batch (a stop releases them)."""
        rows = [row for row_id, row in self.held.items() if row_id not in self.started]
        for row in rows:
            self.given_back.add(row.id)
            del self.held[row.id]
        return rows

    def in_flight(self) -> int:
        """Rows started and not done."""
        return len(self.started)

    def done(self, row: OutboxRow) -> None:
        self.held.pop(row.id, None)
        self.started.discard(row.id)

    def renewed(self, kept: set[int], safe_until: float) -> None:
        self.lost |= set(self.held) - kept
        self.safe_until = safe_until

    def covers(self, row: OutboxRow, monotonic_now: float) -> bool:
        return row.id not in self.lost and monotonic_now < self.safe_until


def _attach(row: NewRow, chart: object) -> NewRow:
    from bot.core import Attachment

    assert isinstance(chart, Attachment)
    if row.payload is None:
        return row
    msg = messages.decode(row.payload, row.chat)
    return dataclasses.replace(
        row, payload=messages.encode(dataclasses.replace(msg, files=(*msg.files, chart)))
    )


def _round(row: OutboxRow) -> int:
    # Escalation slots end in "/L<level>.<round>".
    try:
        return int(row.slot.rsplit(".", 1)[1])
    except (IndexError, ValueError):
        return 0


def _key(row: NewRow) -> tuple[str, str, str, str]:
    return row.key
