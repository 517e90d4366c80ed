"""The outbox: scheduled jobs and messages with deterministic keys, claimed under a lease.

Every write is one transaction. Enqueueing is ``INSERT ... ON CONFLICT DO NOTHING`` on the key
``(deal_id, kind, slot, chat)``, so any number of replicas may enqueue the same slot and one row
results. A replica *claims* due rows (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
concurrent claimers never wait for or take each other's rows; SQLite serializes writers with
``BEGIN IMMEDIATE``) by setting ``status = 'claimed'``, ``claimed_by`` and ``lease_until``. Its
finishing write is fenced by ``(claimed_by, attempts)``: if the lease expired and another
replica re-claimed the row, the late write changes nothing. A claim whose holder died is taken
again once ``lease_until`` has passed; that is the one way a message can be sent twice
(README, "Running several replicas on PostgreSQL"). So that it repeats only what was truly in
flight, each send is marked ``sent`` as soon as the platform accepts it, by a group commit
(:meth:`Outbox.mark_sent`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, func, or_, select, text, tuple_, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core import Outgoing
from kpi.db import transaction
from scheduler.messages import encode
from scheduler.tables import JOB_CHAT, cursors, escalations, outbox

__all__ = [
    "FINAL",
    "NewEscalation",
    "NewRow",
    "Outbox",
    "OutboxNotices",
    "OutboxRow",
    "insert_for",
    "insert_ignore",
    "missed_since_previous",
    "row_values",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

FINAL = frozenset({"sent", "done", "missed", "skipped", "cancelled", "failed"})
"""Statuses a row never leaves."""

_ATTEMPTS = 5
_MARKS_PER_COMMIT = 500
_MARKS_LINGER = 0.05
"""Seconds the marks connection is kept after the last mark, for the next one."""


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row as read back."""

    id: int
    deal_id: str
    kind: str
    slot: str
    chat: str
    due_at: dt.datetime
    status: str
    payload: str | None
    escalation_id: int | None
    attempts: int
    claimed_by: str | None
    lease_until: dt.datetime | None
    message_id: str | None
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def is_job(self) -> bool:
        return self.chat == JOB_CHAT

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.deal_id, self.kind, self.slot, self.chat)

    def result(self) -> dict[str, Any]:
        """A finished job's stored result (``{}`` when there is none)."""
        if not self.is_job or not self.payload:
            return {}
        loaded = json.loads(self.payload)
        return loaded if isinstance(loaded, dict) else {}


@dataclass(frozen=True)
class NewRow:
    """A row to enqueue."""

    deal_id: str
    kind: str
    slot: str
    chat: str
    due_at: dt.datetime
    payload: str | None = None
    status: str = "pending"
    escalation_id: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.deal_id, self.kind, self.slot, self.chat)


@dataclass(frozen=True)
class NewEscalation:
    """An escalation to start, with the messages it will send unless acknowledged.

    ``rows`` carry ``escalation_id=None``; the store fills in the new escalation's id."""

    deal_id: str
    reason: str
    origin: str
    detail: dict[str, Any]
    started_at: dt.datetime
    rows: tuple[NewRow, ...]


def insert_for(conn: AsyncConnection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def insert_ignore(conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping any that collide with a unique key (both databases)."""
    if not rows:
        return
    await conn.execute(insert_for(conn, table).on_conflict_do_nothing(), list(rows))


def _to_row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=int(row.id),
        deal_id=row.deal_id,
        kind=row.kind,
        slot=row.slot,
        chat=row.chat,
        due_at=row.due_at,
        status=row.status,
        payload=row.payload,
        escalation_id=None if row.escalation_id is None else int(row.escalation_id),
        attempts=int(row.attempts),
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        message_id=row.message_id,
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def row_values(row: NewRow, now: dt.datetime) -> dict[str, Any]:
    final = row.status in FINAL
    return {
        "deal_id": row.deal_id,
        "kind": row.kind,
        "slot": row.slot,
        "chat": row.chat,
        "due_at": row.due_at,
        "status": row.status,
        "payload": row.payload,
        "escalation_id": row.escalation_id,
        "attempts": 0,
        "created_at": now,
        "finished_at": now if final else None,
    }


_MARK_SENT_PG = text(
    """
    UPDATE outbox SET status = 'sent', finished_at = m.at, lease_until = NULL,
        message_id = m.message_id
    FROM unnest(CAST(:ids AS BIGINT[]), CAST(:attempts AS INTEGER[]),
                CAST(:messages AS VARCHAR[]), CAST(:at AS TIMESTAMPTZ[]))
        AS m(id, attempts, message_id, at)
    WHERE outbox.id = m.id AND outbox.attempts = m.attempts
        AND outbox.status = 'claimed' AND outbox.claimed_by = :worker
    RETURNING outbox.id
    """
)
"""Marks a group sent in one statement whose text does not depend on the group's size, so
PostgreSQL prepares and plans it once (a ``VALUES`` list would be a new statement per size)."""


_JOB = and_(outbox.c.deal_id == bindparam("deal_id"), outbox.c.chat == JOB_CHAT)
_ROW = [outbox.c[f.name] for f in fields(OutboxRow)]
"""The outbox's columns an ``OutboxRow`` holds, in its order."""
_PREVIOUS_RECAP = (
    select(*_ROW)
    .where(
        _JOB,
        outbox.c.kind == bindparam("kind"),
        outbox.c.slot < bindparam("slot"),
        outbox.c.status == "done",
    )
    .order_by(outbox.c.slot.desc())
    .limit(1)
)
_MISSED = (
    select(*_ROW)
    .where(
        _JOB,
        outbox.c.status == "missed",
        outbox.c.due_at > bindparam("after"),
        outbox.c.due_at <= bindparam("upto"),
    )
    .order_by(outbox.c.due_at, outbox.c.id)
)
"""``Outbox.missed_since_previous``'s statements, built once (building one costs more than
running it)."""




async def missed_since_previous(
    conn: AsyncConnection, deal_id: str, kind: str, slot: str, now: dt.datetime
) -> list[OutboxRow]:
    """:meth:`Outbox.missed_since_previous`'s reads on ``conn``, a transaction of the caller's
    (a recap reads them with its ledger records)."""
    params = {"deal_id": deal_id, "kind": kind, "slot": slot}
    previous = (await conn.execute(_PREVIOUS_RECAP, params)).one_or_none()
    since = _missed_since(None if previous is None else _to_row(previous))
    missed = await conn.execute(_MISSED, {"deal_id": deal_id, "after": since, "upto": now})
    return [_to_row(r) for r in missed]


def _missed_since(previous: OutboxRow | None) -> dt.datetime:
    """Up to when the previous recap mentioned missed slots (the epoch when there is none)."""
    since = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if previous is None:
        return since
    return dt.datetime.fromisoformat(previous.result().get("missed_upto", since.isoformat()))


class Outbox:
    """The outbox and escalation tables over an async engine."""

    def __init__(self, engine: AsyncEngine, *, worker: str) -> None:
        """Create the store.

        Args:
            engine: The ledger's engine (migrated).
            worker: This process's claim name, unique among replicas (host, pid, random).
        """
        self.engine = engine
        self.worker = worker
        self._marks: list[tuple[OutboxRow, str | None, dt.datetime, asyncio.Future[bool]]] = []
        self._marking = False
        self._markers: set[asyncio.Task[None]] = set()
        self._more_marks = asyncio.Event()
        self._mark_conn: AsyncConnection | None = None

    # ------------------------------------------------------------------ transactions

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in a read-only transaction."""
        return await self._run(work, write=False)

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction, retried when it loses a race."""
        return await self._run(work, write=True)

    async def _run(self, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool) -> T:
        # Inserts here are ON CONFLICT DO NOTHING, so a unique violation is a bug, not a race.
        return await transaction(
            self.engine, work, write=write, attempts=_ATTEMPTS, retry_on=(), label="outbox"
        )

    # -------------------------------------------------------------------- enqueueing

    async def cursors(self) -> dict[tuple[str, str], dt.date]:
        """The last enumerated slot day of every (deal, job kind)."""

        async def work(conn: AsyncConnection) -> dict[tuple[str, str], dt.date]:
            rows = await conn.execute(
                select(cursors.c.deal_id, cursors.c.kind, cursors.c.last_slot)
            )
            return {(str(r.deal_id), str(r.kind)): dt.date.fromisoformat(r.last_slot) for r in rows}

        return await self.read(work)

    async def record_slots(
        self, deal_id: str, kind: str, rows: Sequence[NewRow], now: dt.datetime
    ) -> None:
        """Enqueue job rows (pending, or missed) and move the (deal, kind) cursor past them.

        One transaction: the cursor never passes a slot whose row is not stored. Replicas doing
        the same work concurrently store each row once and leave the cursor at the furthest
        slot either reached.
        """
        if not rows:
            return
        last = max(row.slot for row in rows)

        async def work(conn: AsyncConnection) -> None:
            await insert_ignore(conn, outbox, [row_values(r, now) for r in sorted(rows, key=_key)])
            statement = insert_for(conn, cursors).values(
                deal_id=deal_id, kind=kind, last_slot=last, updated_at=now
            )
            statement = statement.on_conflict_do_update(
                index_elements=["deal_id", "kind"],
                set_={"last_slot": statement.excluded.last_slot, "updated_at": now},
                # ISO dates compare as strings; the cursor only moves forward.
                where=cursors.c.last_slot < statement.excluded.last_slot,
            )
            await conn.execute(statement)

        await self.write(work)

    async def enqueue(self, rows: Iterable[NewRow], now: dt.datetime) -> None:
        """Insert rows that are not there yet (by key)."""
        values = [row_values(r, now) for r in sorted(rows, key=_key)]

        async def work(conn: AsyncConnection) -> None:
            await insert_ignore(conn, outbox, values)

        if values:
            await self.write(work)

    # ---------------------------------------------------------------------- claiming

    async def claim(
        self,
        now: dt.datetime,
        lease: dt.timedelta,
        limit: int,
        *,
        at: dt.datetime | None = None,
    ) -> list[OutboxRow]:
        """Claim up to ``limit`` rows: pending ones due by ``now`` and expired claims.

        Args:
            now: Rows due up to this instant are taken.
            lease: How long the claim holds.
            limit: At most this many rows.
            at: The present instant (default ``now``): the lease runs from it, and a claim is
                expired when its ``lease_until`` is before it. A long tick passes a fresh one.

        Returns:
            The claimed rows (status ``claimed``, ``attempts`` incremented), oldest due first.
        """
        present = at or now

        async def work(conn: AsyncConnection) -> list[OutboxRow]:
            due = or_(
                and_(outbox.c.status == "pending", outbox.c.due_at <= now),
                and_(outbox.c.status == "claimed", outbox.c.lease_until < present),
            )
            ids = list(
                (
                    await conn.execute(
                        select(outbox.c.id)
                        .where(due)
                        .order_by(outbox.c.due_at, outbox.c.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            if not ids:
                return []
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(
                    status="claimed",
                    claimed_by=self.worker,
                    lease_until=present + lease,
                    attempts=outbox.c.attempts + 1,
                )
            )
            rows = await conn.execute(
                select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.due_at, outbox.c.id)
            )
            return [_to_row(r) for r in rows]

        return await self.write(work)

    def _mine(self, row: OutboxRow) -> Any:
        return and_(
            outbox.c.id == row.id,
            outbox.c.status == "claimed",
            outbox.c.claimed_by == self.worker,
            outbox.c.attempts == row.attempts,
        )

    async def renew(self, rows: Sequence[OutboxRow], until: dt.datetime) -> set[int]:
        """Extend the lease of rows this worker still holds.

        Returns:
            The ids still held (now until ``until``); any other row was lost to an expired
            lease and must not be sent.
        """
        if not rows:
            return set()
        fences = [(row.id, row.attempts) for row in rows]

        async def work(conn: AsyncConnection) -> set[int]:
            # One statement: a row-by-row renewal would hold the batch's row locks for as many
            # round trips, and every "sent" mark of the batch would wait behind them.
            result = await conn.execute(
                update(outbox)
                .where(
                    tuple_(outbox.c.id, outbox.c.attempts).in_(fences),
                    outbox.c.status == "claimed",
                    outbox.c.claimed_by == self.worker,
                )
                .values(lease_until=until)
                .returning(outbox.c.id)
            )
            return {int(found) for found in result.scalars()}

        return await self.write(work)

    async def finish(
        self,
        row: OutboxRow,
        status: str,
        now: dt.datetime,
        *,
        message_id: str | None = None,
        error: str | None = None,
        payload: str | None = None,
        extra: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> bool:
        """Record a claimed row's outcome, if this worker still holds the claim.

        Args:
            row: The row as claimed.
            status: A final status.
            now: When.
            message_id: The platform's message id (sent messages).
            error: Why it failed or was skipped.
            payload: A job's result to keep (replaces the payload).
            extra: More writes for the same transaction (a job's fan-out), run only if the
                claim is still held.

        Returns:
            False when the claim had been lost (lease expired and taken); nothing was written.
        """
        assert status in FINAL, status
        values: dict[str, Any] = {"status": status, "finished_at": now, "lease_until": None}
        if message_id is not None:
            values["message_id"] = message_id[:200]
        if error is not None:
            values["error"] = error
        if payload is not None:
            values["payload"] = payload

        async def work(conn: AsyncConnection) -> bool:
            result = await conn.execute(update(outbox).where(self._mine(row)).values(**values))
            if not result.rowcount:
                return False
            if extra is not None:
                await extra(conn)
            return True

        return await self.write(work)

    async def mark_sent(self, row: OutboxRow, message_id: str | None, now: dt.datetime) -> bool:
        """Record that the platform accepted a claimed message: ``finish(row, "sent", ...)``,
        committed together with the other marks that arrive meanwhile.

        A mark is written at once when none is being written; the marks that arrive while one
        is, go together in the next statement. On PostgreSQL that is one ``UPDATE ... FROM
        unnest(...) RETURNING`` on a connection held while marks keep coming (autocommit: one
        round trip, no checkout): 64 sends answered at once are marked in two or three
        statements, not 64 transactions queueing for the pool, so a crash repeats only the
        few sends whose mark was still on its way. Fenced like :meth:`finish`.

        Returns:
            False when the claim had been lost; that row was not written.
        """
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._marks.append((row, message_id, now, done))
        self._more_marks.set()
        if not self._marking:
            self._marking = True
            marker = asyncio.create_task(self._write_marks())
            self._markers.add(marker)
            marker.add_done_callback(self._markers.discard)
        # Shielded: a send cancelled while it waits (a stop's grace ran out) is still marked.
        return await asyncio.shield(done)

    async def marks_written(self) -> None:
        """Wait until every mark handed to :meth:`mark_sent` is committed (or failed)."""
        while self._markers:
            await asyncio.wait(set(self._markers))

    async def _write_marks(self) -> None:
        try:
            while True:
                if not self._marks:
                    # Keep the connection a moment: in a fan-out the next answer is near.
                    self._more_marks.clear()
                    try:
                        await asyncio.wait_for(self._more_marks.wait(), _MARKS_LINGER)
                    except TimeoutError:
                        if not self._marks:
                            # Before any await: a mark from now on starts a new writer.
                            self._marking = False
                            return
                group = self._marks[:_MARKS_PER_COMMIT]
                del self._marks[:_MARKS_PER_COMMIT]
                marks = sorted(((r, m, n) for r, m, n, _ in group), key=lambda x: x[0].id)
                began = time.monotonic()
                try:
                    kept = await self._mark_group(marks)
                except Exception as exc:
                    for *_, done in group:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                log.debug(
                    "sent marks written",
                    extra={"marks": len(group), "ms": round((time.monotonic() - began) * 1000, 1)},
                )
                for row, _, _, done in group:
                    if not done.done():
                        done.set_result(row.id in kept)
        finally:
            self._marking = False
            await self._drop_mark_connection()

    async def _mark_group(
        self, marks: Sequence[tuple[OutboxRow, str | None, dt.datetime]]
    ) -> set[int]:
        if self.engine.dialect.name == "postgresql":
            try:
                return await self._mark_group_held(marks)
            except (sa_exc.DBAPIError, OSError) as exc:
                # The held connection broke: the ordinary transaction (pool, retries) decides.
                log.info("marking on the held connection failed: %s", type(exc).__name__)
                await self._drop_mark_connection()
        return await self._mark_group_executemany(marks)

    async def _mark_group_held(
        self, marks: Sequence[tuple[OutboxRow, str | None, dt.datetime]]
    ) -> set[int]:
        if self._mark_conn is None:
            conn = await self.engine.connect()
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            # Asynchronous commit: the mark is visible to every replica when the statement
            # returns, without waiting for the WAL flush (measured: 16 ms at the median on a
            # busy disk, against 1-6 ms). Only a crash of PostgreSQL itself within ~0.6 s
            # (3 x wal_writer_delay) can lose a mark: that row is then re-sent after its lease,
            # a duplicate as after a replica crash, never a lost message.
            await conn.execute(text("SET synchronous_commit TO off"))
            self._mark_conn = conn
        for _, _, now in marks:
            if now.tzinfo is None:
                raise ValueError(f"timestamps must be aware datetimes, not {now!r}")
        result = await self._mark_conn.execute(
            _MARK_SENT_PG,
            {
                "ids": [row.id for row, _, _ in marks],
                "attempts": [row.attempts for row, _, _ in marks],
                "messages": [None if m is None else m[:200] for _, m, _ in marks],
                "at": [now.astimezone(dt.UTC) for _, _, now in marks],
                "worker": self.worker,
            },
        )
        return {int(found) for found in result.scalars()}

    async def _mark_group_executemany(
        self, marks: Sequence[tuple[OutboxRow, str | None, dt.datetime]]
    ) -> set[int]:
        params = [
            {
                "m_id": row.id,
                "m_attempts": row.attempts,
                "m_message": None if message_id is None else message_id[:200],
                "m_at": now,
            }
            for row, message_id, now in marks
        ]
        statement = (
            update(outbox)
            .where(
                outbox.c.id == bindparam("m_id"),
                outbox.c.attempts == bindparam("m_attempts"),
                outbox.c.status == "claimed",
                outbox.c.claimed_by == self.worker,
            )
            .values(
                status="sent",
                finished_at=bindparam("m_at"),
                lease_until=None,
                message_id=bindparam("m_message"),
            )
        )
        fences = [(row.id, row.attempts) for row, _, _ in marks]

        async def work(conn: AsyncConnection) -> set[int]:
            await conn.execute(statement, params)
            # An executemany reports no per-row count: read back which marks took. A row
            # another replica re-claimed has another claimed_by (or attempts).
            found = await conn.execute(
                select(outbox.c.id).where(
                    tuple_(outbox.c.id, outbox.c.attempts).in_(fences),
                    outbox.c.status == "sent",
                    outbox.c.claimed_by == self.worker,
                )
            )
            return {int(found_id) for found_id in found.scalars()}

        return await self.write(work)

    async def _drop_mark_connection(self) -> None:
        conn, self._mark_conn = self._mark_conn, None
        if conn is None:
            return
        try:
            # Back to the pool with the server's default: ledger writes keep synchronous commit.
            await conn.execute(text("RESET synchronous_commit"))
        except Exception:
            log.debug("resetting the marks connection failed", exc_info=True)
            await conn.invalidate()  # never reused with asynchronous commit
        try:
            await conn.close()
        except Exception:  # already broken: the pool discards it
            log.debug("closing the marks connection failed", exc_info=True)

    async def retry_later(self, row: OutboxRow, due: dt.datetime, error: str) -> bool:
        """Give a claimed row back as pending, due again at ``due``."""

        async def work(conn: AsyncConnection) -> bool:
            result = await conn.execute(
                update(outbox)
                .where(self._mine(row))
                .values(
                    status="pending", due_at=due, claimed_by=None, lease_until=None, error=error
                )
            )
            return bool(result.rowcount)

        return await self.write(work)

    async def postpone(self, row: OutboxRow, due: dt.datetime) -> bool:
        """Give a claimed row back, due at ``due``, without counting the claim as an attempt
        (quiet hours: it was not tried)."""

        async def work(conn: AsyncConnection) -> bool:
            result = await conn.execute(
                update(outbox)
                .where(self._mine(row))
                .values(
                    status="pending",
                    due_at=due,
                    claimed_by=None,
                    lease_until=None,
                    attempts=outbox.c.attempts - 1,
                )
            )
            return bool(result.rowcount)

        return await self.write(work)

    async def release(self, row: OutboxRow) -> bool:
        """Give a claimed row back untouched (this worker will not send it in time)."""

        async def work(conn: AsyncConnection) -> bool:
            result = await conn.execute(
                update(outbox)
                .where(self._mine(row))
                .values(status="pending", claimed_by=None, lease_until=None)
            )
            return bool(result.rowcount)

        return await self.write(work)

    async def release_all(self, rows: Sequence[OutboxRow]) -> int:
        """Give back, in one transaction, claimed rows this worker has not started (a stop).

        Each row goes back to ``pending`` with its lease cleared and the claim not counted as
        an attempt, so another replica takes it on its next tick. Fenced like :meth:`finish`:
        a row this worker no longer holds is left alone.

        Returns:
            How many rows were given back.
        """
        if not rows:
            return 0
        fences = [(row.id, row.attempts) for row in rows]

        async def work(conn: AsyncConnection) -> int:
            result = await conn.execute(
                update(outbox)
                .where(
                    tuple_(outbox.c.id, outbox.c.attempts).in_(fences),
                    outbox.c.status == "claimed",
                    outbox.c.claimed_by == self.worker,
                )
                .values(
                    status="pending",
                    claimed_by=None,
                    lease_until=None,
                    attempts=outbox.c.attempts - 1,
                )
            )
            return int(result.rowcount)

        return await self.write(work)

    # ------------------------------------------------------------------------ reading

    async def rows(
        self,
        *,
        deal_id: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        escalation_id: int | None = None,
        jobs: bool | None = None,
    ) -> list[OutboxRow]:
        """Rows matching every given filter, by due time then id."""

        async def work(conn: AsyncConnection) -> list[OutboxRow]:
            query = select(outbox)
            if deal_id is not None:
                query = query.where(outbox.c.deal_id == deal_id)
            if kind is not None:
                query = query.where(outbox.c.kind == kind)
            if status is not None:
                query = query.where(outbox.c.status == status)
            if escalation_id is not None:
                query = query.where(outbox.c.escalation_id == escalation_id)
            if jobs is True:
                query = query.where(outbox.c.chat == JOB_CHAT)
            elif jobs is False:
                query = query.where(outbox.c.chat != JOB_CHAT)
            rows = await conn.execute(query.order_by(outbox.c.due_at, outbox.c.id))
            return [_to_row(r) for r in rows]

        return await self.read(work)

    async def previous_job(
        self, deal_id: str, kind: str, before: str, *, status: str | None = None
    ) -> OutboxRow | None:
        """The latest job row of a kind (and status) with a slot before ``before``."""

        async def work(conn: AsyncConnection) -> OutboxRow | None:
            query = select(outbox).where(
                outbox.c.deal_id == deal_id,
                outbox.c.kind == kind,
                outbox.c.chat == JOB_CHAT,
                outbox.c.slot < before,
            )
            if status is not None:
                query = query.where(outbox.c.status == status)
            row = (await conn.execute(query.order_by(outbox.c.slot.desc()).limit(1))).one_or_none()
            return None if row is None else _to_row(row)

        return await self.read(work)

    async def missed_between(
        self, deal_id: str, after: dt.datetime, upto: dt.datetime
    ) -> list[OutboxRow]:
        """A deal's missed job slots due in ``(after, upto]``, oldest first."""

        async def work(conn: AsyncConnection) -> list[OutboxRow]:
            rows = await conn.execute(_MISSED, {"deal_id": deal_id, "after": after, "upto": upto})
            return [_to_row(r) for r in rows]

        return await self.read(work)

    async def missed_since_previous(
        self, deal_id: str, kind: str, slot: str, now: dt.datetime
    ) -> list[OutboxRow]:
        """The deal's job slots missed since the latest ``kind`` job before ``slot`` that was
        done mentioned them (its result's ``missed_upto``) up to ``now``, oldest first: what
        :meth:`previous_job` and :meth:`missed_between` answer, in one transaction."""

        async def work(conn: AsyncConnection) -> list[OutboxRow]:
            return await missed_since_previous(conn, deal_id, kind, slot, now)

        return await self.read(work)

    async def next_pending(self, after: dt.datetime) -> dt.datetime | None:
        """The earliest due time of a pending row that is due strictly after ``after``."""

        async def work(conn: AsyncConnection) -> dt.datetime | None:
            found = await conn.execute(
                select(func.min(outbox.c.due_at)).where(
                    outbox.c.status == "pending", outbox.c.due_at > after
                )
            )
            value: dt.datetime | None = found.scalar_one_or_none()
            return value

        return await self.read(work)

    async def oldest_unsent_due(self, now: dt.datetime) -> dt.datetime | None:
        """The due time of the oldest row due by ``now`` and not yet final (``/metrics``).

        Pending rows and claims (held or expired) alike: a claim is not a send, and a replica
        that died holding one leaves the row waiting for its lease. One aggregate over the
        ``(status, due_at)`` index.
        """

        async def work(conn: AsyncConnection) -> dt.datetime | None:
            found = await conn.execute(
                select(func.min(outbox.c.due_at)).where(
                    outbox.c.status.in_(("pending", "claimed")), outbox.c.due_at <= now
                )
            )
            value: dt.datetime | None = found.scalar_one_or_none()
            return value

        return await self.read(work)

    async def escalation_status(self, escalation_id: int) -> str | None:
        """An escalation's status (``open``, ``acked`` or ``resolved``)."""

        async def work(conn: AsyncConnection) -> str | None:
            found = await conn.execute(
                select(escalations.c.status).where(escalations.c.id == escalation_id)
            )
            value = found.scalar_one_or_none()
            return None if value is None else str(value)

        return await self.read(work)


def _key(row: NewRow) -> tuple[str, str, str, str]:
    # Inserting in key order everywhere keeps two replicas' batches from deadlocking on
    # PostgreSQL's unique index.
    return row.key


class OutboxNotices:
    """:class:`bot.core.ports.Notices` over the outbox: one row per message, keyed
    ``(deal, kind, key, chat)``, so posting again (a retried command) adds nothing and the
    drain sends each once."""

    def __init__(self, store: Outbox) -> None:
        self.store = store

    async def post(
        self, deal_id: str, *, kind: str, key: str, messages: Sequence[Outgoing], at: dt.datetime
    ) -> None:
        rows = [NewRow(deal_id, kind, key, msg.to, at, encode(msg)) for msg in messages]
        await self.store.enqueue(rows, at)

