"""Group commit: writes that arrive together share one transaction, each in its own savepoint.

A write is an ``async (connection) -> result`` function, as :func:`kpi.db.transaction` takes,
and a key naming what it locks. :class:`GroupCommit` runs the writes that queue up while
their lane is busy committing in one transaction (the classic leader/follower group commit):
nothing waits on purpose, so a lone write on an idle bot commits at once, as its own
transaction, and under load one ``COMMIT`` (one WAL flush, one fsync on PostgreSQL, one turn
of SQLite's write lock) carries many writes.

A lane is one batch in flight at a time, on its own connection, and a write's lane follows
from its key (what it locks), so writes that lock the same rows always meet in the same lane,
one batch after another: two lanes of one process never wait for each other's locks, so they
cannot deadlock each other.
SQLite has one lane for every key: it takes one writer at a time anyway. On PostgreSQL, writes
that can run in bulk (below) take one lane too; others take a lane per key: writes on the same
rows, which would wait for each other's locks anyway, share commits, and writes on other rows
run in parallel on other connections. (Measured on the 2-core development machine, where
PostgreSQL's fsync costs about 0.2 ms: one write after another in a batch, each waiting for
its own round trips, made a shared lane about 0.7 times as fast as a lane per key; in bulk, one
lane stored reports 3 times as fast as 16 writers committing one row each.)

**Bulk.** A group commit may take a ``bulk`` function: given the items of a batch's writes, it
stores as many of them as it can in a few statements for all (one multi-row ``INSERT`` instead
of one per write) and leaves the others (``None``) to their own writes. A bulk that opens its
transaction needs no savepoint: when it fails, the transaction is rolled back and the batch
runs again in a new one, each write in its own savepoint, as below; a later bulk of the same
transaction (writes that arrived while it ran) has a savepoint of its own, rolled back alone
when it fails. Either way a failure still rejects only the write it belongs to. ``kpi.ledger``
stores reports this way.

In a shared transaction, each write runs inside its own ``SAVEPOINT``. A write that fails is
rolled back to its savepoint alone, and its caller gets its own error, mapped as
``kpi.db.transaction`` maps it; the others go on. A write that lost a race (``retry_on``) is
retried in a new savepoint of the same transaction. Every caller is answered only after the
shared ``COMMIT`` succeeded. When the shared transaction fails:

* for good (the commit is refused, the database is unreachable): every caller of the batch
  gets that failure, and nothing of the batch is stored;
* in a way worth retrying (the connection dropped, even during the ``COMMIT``; PostgreSQL
  chose the batch to break a deadlock with another process): each write of the batch runs
  again alone, as its own transaction under ``kpi.db.transaction``'s policy, so one write's
  trouble cannot keep failing the others. A write may therefore run more than once, like any
  retried transaction: it must read what it needs each time (``kpi.ledger`` looks for its
  stored copy on a retry, which also settles a commit whose outcome was unknown).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kpi.db import RETRY_SQLSTATES, describe_error, small_writes, transaction
from kpi.errors import StorageError

__all__ = ["MAX_BATCH", "WINDOW", "BatchStats", "Bulk", "GroupCommit"]

log = logging.getLogger(__name__)

T = TypeVar("T")

WINDOW = 0.002
"""Seconds a batch's transaction stays open to take in writes that arrive while it runs."""

MAX_BATCH = 32
"""Writes in one transaction at most: a bound on how long the batch holds its locks."""

Bulk = Callable[[AsyncConnection, list[Any]], Awaitable[list[Any]]]
"""Runs many writes' items at once (see :class:`GroupCommit`): returns, for each item in
order, its write's result, or ``None`` for an item it left to its own write."""


class _BulkFailed(Exception):
    """The bulk that opened a shared transaction failed: roll back, run the batch again."""


@dataclass(frozen=True)
class BatchStats:
    """What a :class:`GroupCommit` has committed so far."""

    batches: int = 0
    """Transactions committed (a write alone counts as one)."""
    writes: int = 0
    """Writes answered from a committed transaction (stored, or refused in their savepoint)."""
    largest: int = 0
    """The most writes one committed transaction carried."""


@dataclass(eq=False)
class _Write(Generic[T]):
    """One queued write and the future its caller waits on."""

    work: Callable[[AsyncConnection], Awaitable[T]]
    future: asyncio.Future[T]
    item: Any = None
    """What the group commit's ``bulk`` takes for this write (``None``: it runs alone)."""
    outcome: tuple[bool, Any] = field(default=(False, None))
    """``(True, result)`` or ``(False, exception)``, from the current attempt of its batch."""


@dataclass(eq=False)
class _Lane:
    """Writes waiting for their turn, and the task committing them (``None``: idle)."""

    slot: Hashable
    queue: deque[_Write[Any]] = field(default_factory=deque)
    leader: asyncio.Task[Any] | None = None


class GroupCommit:
    """Runs writes on one engine in shared transactions; see the module docstring.

    Args:
        engine: The engine to write to.
        window: Seconds a batch stays open, once started, to take in writes that arrive while
            it runs; past it the batch commits, and later writes form the next batch.
        max_batch: Writes in one transaction at most.
        lanes: Lanes, the keys spread over them by hash (default: 1 on SQLite or with
            ``bulk``, else one per key on PostgreSQL).
        attempts: Tries of a write that loses a race (``retry_on``), in its batch or alone.
        retry_on: The exceptions that mean a write lost a race and should run again.
        label: Names the store in errors and logs.
        bulk: Runs the items of a shared batch's writes together, in fewer statements than
            one write after another (see the module docstring).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        window: float = WINDOW,
        max_batch: int = MAX_BATCH,
        lanes: int | None = None,
        attempts: int = 6,
        retry_on: tuple[type[BaseException], ...] = (sa_exc.IntegrityError,),
        label: str = "database",
        bulk: Bulk | None = None,
    ) -> None:
        if lanes is None and (bulk is not None or engine.dialect.name == "sqlite"):
            lanes = 1
        if window < 0 or min(max_batch, lanes or 1, attempts) < 1:
            raise ValueError("window must be >= 0; max_batch, lanes and attempts >= 1")
        # Its transactions are a bounded batch of small statements (kpi.db.SMALL_WRITE).
        self._engine = small_writes(engine)
        self._window = window
        self._max_batch = max_batch
        self._attempts = attempts
        self._retry_on = retry_on
        self._label = label
        self._bulk = bulk
        self._lane_count = lanes  # None: a lane per key
        self._lanes: dict[Hashable, _Lane] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stats = BatchStats()

    @property
    def stats(self) -> BatchStats:
        """Counts of what was committed so far."""
        return self._stats

    async def run(
        self, work: Callable[[AsyncConnection], Awaitable[T]], key: Hashable, item: Any = None
    ) -> T:
        """Run ``work`` in the next transaction of its lane: alone when nothing else waits,
        else shared, in its own savepoint.

        A caller that gives up (is cancelled) before its write's turn stores nothing; one that
        gives up while its write runs does not undo it: the write commits with its batch, like
        a command whose answer was lost (a redelivery then finds it stored).

        Args:
            work: The write.
            key: What the write locks (writes with equal keys share a lane).
            item: What ``bulk`` takes for this write when it shares a batch (``None``: the
                write always runs on its own).

        Returns:
            What ``work`` returned, once the transaction that holds it has committed.

        Raises:
            ValueError: The database refused a value of this write.
            StorageError: This write failed in the database, or the shared transaction failed
                for good (then every write of the batch fails with it and none is stored).
            Exception: Whatever else ``work`` raised; nothing of this write was stored.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop and self._lanes:
            # Batches belong to one event loop; a write from another commits on its own.
            return await self._transaction(work)
        self._loop = loop
        lane = self._lane(key)
        if lane.leader is None:
            return await self._lead_alone(lane, work)
        write: _Write[T] = _Write(work, loop.create_future(), item)
        lane.queue.append(write)
        return await write.future

    async def _lead_alone(self, lane: _Lane, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """The write of a caller that found its lane idle: the caller leads, running its write
        as its own transaction; writes that queue up meanwhile get a leader when it is done."""
        lane.leader = asyncio.current_task()
        try:
            result = await self._transaction(work)
        finally:
            if lane.queue:
                lane.leader = asyncio.get_running_loop().create_task(self._lead(lane))
            else:
                self._idle(lane)
        self._stats = _plus(self._stats, 1)
        return result

    def _lane(self, key: Hashable) -> _Lane:
        slot = key if self._lane_count is None else hash(key) % self._lane_count
        lane = self._lanes.get(slot)
        if lane is None:
            lane = self._lanes[slot] = _Lane(slot)
        return lane

    def _idle(self, lane: _Lane) -> None:
        """A lane with nothing left to commit is forgotten (a lane per key would pile up)."""
        lane.leader = None
        self._lanes.pop(lane.slot, None)

    async def _transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``work`` as its own transaction, its lost races retried in new ones."""
        return await transaction(
            self._engine,
            work,
            write=True,
            attempts=self._attempts,
            retry_on=self._retry_on,
            label=self._label,
        )

    # --------------------------------------------------------------------------- batches

    async def _lead(self, lane: _Lane) -> None:
        """Commit the lane's batches while writes wait in it; the writes that queue up during
        one commit form the next batch."""
        try:
            while lane.queue:
                batch = _take(lane, self._max_batch)
                if len(batch) == 1:
                    await self._commit_alone(batch[0])
                elif batch:
                    await self._commit_shared(lane, batch)
                if not lane.queue:
                    # One loop turn before going idle: callers just answered that write again
                    # at once find the batch still leading, instead of one of them leading a
                    # transaction of its own while the others queue behind it.
                    await asyncio.sleep(0)
        finally:
            while lane.queue:  # only when cancelled: nobody is left to run them
                lane.queue.popleft().future.cancel()
            self._idle(lane)

    async def _commit_alone(self, write: _Write[Any]) -> None:
        """A write as its own transaction, as :func:`kpi.db.transaction` runs it."""
        try:
            result = await self._transaction(write.work)
        except BaseException as exc:
            _settle(write.future, (False, exc))
            if not isinstance(exc, Exception):
                raise
            return
        self._counted([write])
        _settle(write.future, (True, result))

    async def _commit_shared(
        self, lane: _Lane, batch: list[_Write[Any]], *, opening_bulk: bool = True
    ) -> None:
        """Writes in one transaction, each in its own savepoint (or together, in ``bulk``);
        the batch takes in writes that arrive in its lane while it runs, until ``window`` has
        passed since it started.

        A bulk that opens the transaction needs no savepoint: when it fails, the transaction
        is rolled back and the batch runs again in a new one, each write in its own savepoint
        (``opening_bulk=False``)."""
        loop = asyncio.get_running_loop()
        closes = loop.time() + self._window

        async def work(conn: AsyncConnection) -> None:
            index = 0
            while index < len(batch):
                await self._attempt_all(conn, batch[index:], opening=opening_bulk and not index)
                index = len(batch)
                if loop.time() < closes:
                    batch.extend(_take(lane, self._max_batch - len(batch)))

        try:
            await transaction(
                self._engine,
                work,
                write=True,
                attempts=1,
                retry_on=(),
                label=self._label,
            )
        except _BulkFailed:
            await self._commit_shared(lane, batch, opening_bulk=False)
            return
        except BaseException as exc:
            await self._shared_failed(batch, exc)
            return
        self._counted(batch)
        for write in batch:
            _settle(write.future, write.outcome)

    async def _shared_failed(self, batch: list[_Write[Any]], exc: BaseException) -> None:
        """The shared transaction failed and stored nothing: run each write again alone when
        the failure is worth retrying, else give every caller the failure."""
        if isinstance(exc, StorageError) and _worth_retrying(exc.__cause__):
            log.info("%s: a batch of %d lost a race: each runs alone", self._label, len(batch))
            for write in batch:
                if not write.future.done():
                    await self._commit_alone(write)
            return
        for write in batch:
            _settle(write.future, (False, _for_caller(exc)))
        if not isinstance(exc, Exception):
            raise exc
        log.warning("%s: a batch of %d writes failed: %s", self._label, len(batch), exc)

    async def _attempt_all(
        self, conn: AsyncConnection, writes: list[_Write[Any]], *, opening: bool
    ) -> None:
        """Writes of a shared batch: together through ``bulk`` when they can be, then each
        one ``bulk`` left (or all, when it failed) in its own savepoint, in their order.
        ``opening``: nothing ran in the transaction before (see :meth:`_commit_shared`)."""
        alone = writes
        live = [write for write in writes if not write.future.done()]
        if self._bulk is not None and len(live) > 1 and all(w.item is not None for w in live):
            settled = await self._attempt_bulk(conn, live, opening=opening)
            alone = [write for write in writes if write not in settled]
        for write in alone:
            write.outcome = await self._attempt(conn, write)

    async def _attempt_bulk(
        self, conn: AsyncConnection, writes: list[_Write[Any]], *, opening: bool
    ) -> set[_Write[Any]]:
        """``bulk`` over the writes' items, in one savepoint unless ``opening``; returns the
        writes it settled. When it fails, its savepoint is rolled back and it settled none.

        Raises:
            _BulkFailed: It failed, ``opening``: the transaction must be rolled back.
            sqlalchemy.exc.DBAPIError, OSError: The transaction itself failed (see
                :func:`_ends_the_batch`); nothing of the batch will be stored.
        """
        assert self._bulk is not None
        items = [write.item for write in writes]
        try:
            if opening:
                results = await self._bulk(conn, items)
            else:
                async with conn.begin_nested():
                    results = await self._bulk(conn, items)
        except Exception as exc:
            if _ends_the_batch(exc):
                raise
            log.debug("%s: a bulk of %d failed, each runs alone: %s", self._label, len(writes), exc)
            if opening:
                raise _BulkFailed from exc
            return set()
        done: set[_Write[Any]] = set()
        for write, result in zip(writes, results, strict=True):
            if result is not None:
                write.outcome = (True, result)
                done.add(write)
        return done

    async def _attempt(self, conn: AsyncConnection, write: _Write[Any]) -> tuple[bool, Any]:
        """One write in its own savepoint, retried there while it loses races.

        Raises:
            sqlalchemy.exc.DBAPIError, OSError: The transaction itself failed (see
                :func:`_ends_the_batch`); nothing of the batch will be stored.
        """
        if write.future.done():  # its caller gave up: store nothing for nobody
            return False, None
        last: BaseException | None = None
        for _ in range(self._attempts):
            try:
                async with conn.begin_nested():
                    return True, await write.work(conn)
            except self._retry_on as exc:
                last = exc
            except Exception as exc:
                if _ends_the_batch(exc):
                    raise
                return False, _refusal(exc, self._label)
            log.debug("%s write lost a race: %s", self._label, last)
        failure = StorageError(
            f"{self._label}: transaction failed {self._attempts} times: {describe_error(last)}"
        )
        failure.__cause__ = last
        return False, failure

    def _counted(self, batch: list[_Write[Any]]) -> None:
        self._stats = _plus(self._stats, sum(not write.future.done() for write in batch))


# ------------------------------------------------------------------------------ helpers


def _plus(stats: BatchStats, size: int) -> BatchStats:
    """``stats`` with one more committed transaction of ``size`` writes."""
    return BatchStats(stats.batches + 1, stats.writes + size, max(stats.largest, size))


def _take(lane: _Lane, room: int) -> list[_Write[Any]]:
    """Up to ``room`` of the lane's waiting writes whose callers still wait."""
    taken: list[_Write[Any]] = []
    while lane.queue and len(taken) < room:
        write = lane.queue.popleft()
        if not write.future.done():  # a caller that gave up before its turn
            taken.append(write)
    return taken


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    """Answer a caller (one that gave up meanwhile is left alone)."""
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    elif isinstance(value, BaseException) and not isinstance(value, asyncio.CancelledError):
        future.set_exception(value)
    else:
        future.cancel()


def _worth_retrying(exc: BaseException | None) -> bool:
    """A dropped connection, or PostgreSQL's deadlock or serialization failure."""
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    return exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES


def _ends_the_batch(exc: Exception) -> bool:
    """Whether a write's failure is the transaction's: the connection is gone or unreachable,
    or PostgreSQL chose this transaction to break a deadlock or a serialization conflict.

    Retrying only the write would keep the locks the batch's earlier writes hold, which the
    other side of a deadlock waits for; rolling back the whole batch releases them."""
    return _worth_retrying(exc) or isinstance(exc, OSError | TimeoutError | sa_exc.TimeoutError)


def _refusal(exc: Exception, label: str) -> Exception:
    """What the caller of a failed write gets: the error ``kpi.db.transaction`` would raise."""
    mapped: Exception = exc
    if isinstance(exc, sa_exc.DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        data = isinstance(exc, sa_exc.DataError) or str(sqlstate or "").startswith("22")
        mapped = (
            ValueError(f"value rejected by the database: {exc.orig}")
            if data
            else StorageError(f"{label}: database error: {describe_error(exc)}")
        )
    elif isinstance(exc, sa_exc.StatementError) and isinstance(exc.orig, ValueError | TypeError):
        mapped = ValueError(str(exc.orig))  # a bind-time check (kpi.storage types)
    if mapped is not exc:
        mapped.__cause__ = exc
    return mapped


def _for_caller(exc: BaseException) -> BaseException:
    """The batch's failure as one caller gets it: a storage failure is raised anew for each
    caller (one exception object raised in many tasks would pile up their tracebacks)."""
    if type(exc) is StorageError:
        fresh = StorageError(*exc.args)
        fresh.__cause__ = exc
        return fresh
    return exc
