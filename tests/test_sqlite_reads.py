"""SQLite: read transactions run on the event loop's thread, writes in aiosqlite's worker
(``kpi.db._ReadsInline``), with the same answers and the same locking rules; a small write
(the group commit's) runs its statements on the loop once it holds the write lock."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from decimal import Decimal
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kpi.db import make_engine, small_writes, transaction, upgrade
from kpi.dealfile import load_deal
from kpi.ledger import Ledger

AT = dt.datetime(2026, 11, 5, 20, 0, tzinfo=dt.UTC)


async def _thread_of_statements(engine: AsyncEngine, *, write: bool) -> int:
    """The thread a statement of a ``write`` (or read) transaction runs in, as SQLite sees
    it: a function registered on the connection answers ``threading.get_ident()``."""

    async def work(conn: AsyncConnection) -> int:
        raw = await conn.get_raw_connection()
        sqlite = raw.driver_connection._connection  # type: ignore[union-attr]
        sqlite.create_function("thread_id", 0, threading.get_ident)
        return int((await conn.execute(text("SELECT thread_id()"))).scalar_one())

    return await transaction(engine, work, write=write)


async def _create_probe(conn: AsyncConnection) -> None:
    await conn.execute(text("CREATE TABLE probe (n INTEGER)"))


async def _count_probe(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT count(*) FROM probe"))).scalar_one())


async def test_reads_run_on_the_loop_thread_and_writes_in_the_worker(sqlite_url: str) -> None:
    await upgrade(sqlite_url)
    engine = make_engine(sqlite_url, pool_size=1, max_overflow=0)
    try:
        loop_thread = threading.get_ident()
        assert await _thread_of_statements(engine, write=False) == loop_thread
        # The same pooled connection, now in a write transaction: back in its worker.
        assert await _thread_of_statements(engine, write=True) != loop_thread
        assert await _thread_of_statements(engine, write=False) == loop_thread
    finally:
        await engine.dispose()


async def test_a_small_write_runs_its_statements_on_the_loop_but_begins_and_ends_in_the_worker(
    sqlite_url: str,
) -> None:
    """``BEGIN IMMEDIATE`` may wait for the lock and ``COMMIT`` may checkpoint: both in the
    worker; the statements between them on the loop's thread. The next transaction on the
    same connection (a plain write) is back in the worker for all of its statements."""
    await upgrade(sqlite_url)
    engine = make_engine(sqlite_url, pool_size=1, max_overflow=0)
    seen: list[tuple[str, int]] = []

    async def work(conn: AsyncConnection) -> None:
        raw = await conn.get_raw_connection()
        sqlite = raw.driver_connection._connection  # type: ignore[union-attr]
        sqlite.set_trace_callback(lambda sql: seen.append((sql, threading.get_ident())))
        await conn.execute(text("CREATE TABLE IF NOT EXISTS probe (n INTEGER)"))
        await conn.execute(text("INSERT INTO probe VALUES (1)"))

    async def plain(conn: AsyncConnection) -> None:
        await conn.execute(text("INSERT INTO probe VALUES (2)"))

    try:
        loop_thread = threading.get_ident()
        # The first transaction only installs the trace; the second is traced from its BEGIN.
        await transaction(small_writes(engine), work, write=True)
        seen.clear()
        await transaction(small_writes(engine), work, write=True)
        threads = {sql.split()[0]: thread for sql, thread in seen}
        assert threads["BEGIN"] != loop_thread
        assert threads["CREATE"] == loop_thread and threads["INSERT"] == loop_thread
        assert threads["COMMIT"] != loop_thread
        seen.clear()
        await transaction(engine, plain, write=True)
        assert seen and all(thread != loop_thread for _, thread in seen)
    finally:
        await engine.dispose()


async def test_a_small_write_waiting_for_the_lock_does_not_stop_the_loop(sqlite_url: str) -> None:
    """Another connection holds the write lock: the small write's ``BEGIN IMMEDIATE`` waits in
    the worker, the loop keeps running, and the write goes through once the lock is free."""
    await upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold(conn: AsyncConnection) -> None:
        holding.set()
        await release.wait()

    async def insert(conn: AsyncConnection) -> None:
        await conn.execute(text("INSERT INTO probe VALUES (7)"))

    try:
        await transaction(engine, _create_probe, write=True)
        held = asyncio.create_task(transaction(engine, hold, write=True))
        await holding.wait()
        waiting = asyncio.create_task(transaction(small_writes(engine), insert, write=True))
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(20):  # the loop turns while the small write waits for the lock
            await asyncio.sleep(0.005)
        # A BEGIN on the loop's thread would have stopped it here for the busy timeout (15 s).
        assert loop.time() - started < 2 and not waiting.done()
        release.set()
        await held
        await asyncio.wait_for(waiting, 5)
        assert await transaction(engine, _count_probe, write=False) == 1
    finally:
        await engine.dispose()


async def test_a_read_does_not_wait_for_a_writer_holding_the_lock(sqlite_url: str) -> None:
    """WAL: a reader never waits for the write lock, so running it on the loop blocks
    nothing; it sees the last committed state, not the open write."""
    await upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    writing, release = asyncio.Event(), asyncio.Event()

    async def writer(conn: AsyncConnection) -> None:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS probe (n INTEGER)"))
        await conn.execute(text("INSERT INTO probe VALUES (1)"))
        writing.set()
        await release.wait()

    try:
        await transaction(engine, _create_probe, write=True)
        held = asyncio.create_task(transaction(engine, writer, write=True))
        await writing.wait()
        # The writer holds BEGIN IMMEDIATE's lock and has not committed.
        assert await asyncio.wait_for(transaction(engine, _count_probe, write=False), 2) == 0
        release.set()
        await held
        assert await transaction(engine, _count_probe, write=False) == 1
    finally:
        await engine.dispose()


async def test_connections_keep_the_busy_timeout_and_wal(sqlite_url: str) -> None:
    await upgrade(sqlite_url)
    engine = make_engine(sqlite_url)

    async def pragmas(conn: AsyncConnection) -> tuple[int, str]:
        timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
        journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        return int(timeout), str(journal)

    try:
        assert await transaction(engine, pragmas, write=False) == (15_000, "wal")
    finally:
        await engine.dispose()


async def test_a_report_is_inserted_on_the_loop_thread_and_committed_in_the_worker(
    sqlite_url: str, deal_text: str
) -> None:
    """The ledger's reports go through the group commit's small writes: the entry's INSERT on
    the loop's thread, the COMMIT in the worker; a deal change (not a small write) stays in the
    worker for every statement."""
    from tests.test_ledger import report  # the ledger tests' usual report

    await upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    seen: list[tuple[str, int]] = []

    @event.listens_for(engine.sync_engine, "connect")
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        sqlite = dbapi_connection.driver_connection._connection  # sqlite3's, under aiosqlite's
        sqlite.set_trace_callback(lambda sql: seen.append((sql, threading.get_ident())))

    try:
        deal = load_deal(deal_text, "deal.yaml")
        ledger = Ledger(engine, lambda text: load_deal(text, "deal.yaml"))
        await ledger.apply_deal(deal, deal_text, effective=deal.starts, applied_at=AT)
        loop_thread = threading.get_ident()
        applied = [thread for sql, thread in seen if sql.startswith("INSERT")]
        assert applied and loop_thread not in applied
        seen.clear()
        await report(ledger, deal, "m1", ("gmv", Decimal("12000")))
        inserts = [thread for sql, thread in seen if sql.startswith("INSERT INTO entries")]
        commits = [thread for sql, thread in seen if sql == "COMMIT"]
        assert inserts == [loop_thread]
        assert commits and loop_thread not in commits
    finally:
        await engine.dispose()
