"""Database engines and schema migrations for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from kpi.errors import StorageError

__all__ = [
    "READ_ONLY",
    "SMALL_WRITE",
    "SQLITE_BUSY_TIMEOUT_MS",
    "make_engine",
    "normalize_url",
    "safe_url",
    "small_writes",
    "upgrade",
    "upgrade_sync",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 15_000
"""How long a SQLite writer waits for the write lock before giving up."""

READ_ONLY = "kpi_read_only"
"""Execution option: a SQLite transaction that only reads begins DEFERRED (no write lock)."""

SMALL_WRITE = "kpi_small_write"
"""Execution option: a SQLite write of a few bounded statements (the group commit's reports),
whose statements run on the event loop's thread once its ``BEGIN IMMEDIATE`` holds the write
lock (see :class:`_ReadsInline`)."""

_MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_ALEMBIC_LOCK = threading.Lock()


def normalize_url(url: str) -> str:
    """Turn a database URL into its asyncio-driver form.

    ``sqlite:///x`` becomes ``sqlite+aiosqlite:///x``; ``postgresql://`` and ``postgres://``
    become ``postgresql+asyncpg://``. URLs that already name a driver are kept. For a SQLite
    file, its parent directory is created.

    Args:
        url: A SQLAlchemy-style URL, as written in settings.

    Returns:
        The URL to give :func:`make_engine`.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """The URL with its password masked, for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL may still hold a secret: show nothing of it
        return "<database url>"


POOL_SIZE = 20
"""Connections an engine keeps open: the adapters run up to 16 commands at once, and the group
commit and the scheduler hold one each."""
POOL_OVERFLOW = 4
"""Connections opened past :data:`POOL_SIZE` under a burst, closed again on return."""


def make_engine(
    url: str, *, pool_size: int = POOL_SIZE, max_overflow: int = POOL_OVERFLOW
) -> AsyncEngine:
    """Create the async engine kpibot uses.

    SQLite: WAL journal (readers never wait for the writer), foreign keys enforced, a busy
    timeout, and SQLAlchemy emits ``BEGIN`` itself: ``BEGIN IMMEDIATE`` by default so that a
    read-then-write transaction holds the write lock from its start and two of them can never
    deadlock on the lock upgrade; a connection with the :data:`READ_ONLY` execution option
    begins ``DEFERRED`` instead. PostgreSQL: connections are pinged before use, so a restarted
    server costs one failed ping instead of one failed command.

    Args:
        url: Any URL :func:`normalize_url` accepts.
        pool_size: Connections kept open.
        max_overflow: Connections opened past those under a burst, closed on return.

    Returns:
        A new engine; the caller disposes of it.
    """
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_async_engine(
            url,
            # sqlite3.connect's arguments, busy timeout included, are _sqlite_connector's.
            async_creator=_sqlite_connector(make_url(url)),
            # As many kept connections as commands run at once (the adapters run 16) plus the
            # group commit's and the scheduler's: a connection opened past the kept ones is
            # closed on return, and each new one is a new thread and four PRAGMAs.
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        _configure_sqlite(engine)
    elif backend == "postgresql":
        engine = create_async_engine(
            url,
            pool_pre_ping=True,
            pool_timeout=15,
            # Kept connections for the commands running at once, as on SQLite: overflow
            # connections are closed on return, and a new one is a new server process with an
            # empty prepared-statement cache. 24 at most per replica: four replicas stay
            # within PostgreSQL's default max_connections (100).
            pool_size=pool_size,
            max_overflow=max_overflow,
            # An unreachable server should fail a command in seconds, not a minute.
            connect_args={"timeout": 10, "command_timeout": 60},
        )
    else:
        raise ValueError(f"unsupported database {safe_url(url)}: use sqlite or postgresql")
    log.debug("database engine for %s", safe_url(url))
    return engine


class _ReadsInline(aiosqlite.Connection):
    """aiosqlite's connection, whose calls run on the event loop's own thread while
    :attr:`inline` is set: during a read transaction (``BEGIN DEFERRED``, see
    :func:`_configure_sqlite`), and inside a small write once it holds the write lock.

    aiosqlite runs every call (cursor, execute, fetch, close) in the connection's worker thread
    and hands the result back to the loop: ~45 µs of processor time per call, four calls per
    statement, more than a small indexed read or insert costs in SQLite itself. Under WAL a
    reader never waits for a lock, so its statements can run where the caller is, without
    blocking the loop for longer than the read itself.

    A write's ``BEGIN IMMEDIATE`` always runs in the worker: it may wait up to the busy timeout
    for another connection's write lock, and that wait must never stop the loop (the other
    writer may be this process's own, waiting for the loop). Once it holds the lock, a write
    marked :data:`SMALL_WRITE` (a bounded batch of reports) waits for nothing more: under WAL
    a writer's statements never wait for readers, so they too run on the loop's thread. Its
    ``COMMIT`` (or ``ROLLBACK``) goes back to the worker, as a commit may checkpoint the WAL
    into the database file, with an fsync. Other writes (imports, deal changes, migrations)
    keep every statement in the worker: a long statement there does not stop the loop.

    The worker is idle whenever an inline call runs (calls on one connection are awaited one at
    a time), so the sqlite3 connection, opened with ``check_same_thread=False``, is never used
    by two threads at once.
    """

    inline: bool = False
    """Set by the ``begin`` event: True for a read transaction, and for a small write once its
    ``BEGIN IMMEDIATE`` returned; False otherwise."""

    writing: bool = False
    """True from a small write's ``BEGIN IMMEDIATE`` to its end: its end runs in the worker."""

    async def _execute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.inline and self._connection is not None:
            return fn(*args, **kwargs)
        result: T = await super()._execute(fn, *args, **kwargs)
        return result

    async def commit(self) -> None:
        self._end_write()
        await super().commit()

    async def rollback(self) -> None:
        self._end_write()
        await super().rollback()

    def _end_write(self) -> None:
        """A small write ends in the worker (a commit may checkpoint the WAL)."""
        if self.writing:
            self.inline = self.writing = False


def small_writes(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` (the same pool) with :data:`SMALL_WRITE` set: for a writer whose transactions
    are a bounded batch of small statements (the reports' group commit). Set once on the
    engine, it costs nothing per transaction. Only SQLite has a use for it: another engine is
    returned as it is."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{SMALL_WRITE: True})


def _sqlite_connector(url: URL) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """The engine's ``async_creator``: a :class:`_ReadsInline` connection opened with the
    arguments the aiosqlite dialect would give ``sqlite3.connect`` for ``url``."""
    cargs, cparams = url.get_dialect()().create_connect_args(url)
    cparams = {**cparams, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}

    async def connect() -> aiosqlite.Connection:
        connection = _ReadsInline(partial(sqlite3.connect, *cargs, **cparams), 64)
        # As the dialect does for its own: an unclosed connection must not keep the
        # interpreter from exiting.
        connection._thread.daemon = True
        return await connection

    return connect


def _configure_sqlite(engine: AsyncEngine) -> None:
    """The SQLAlchemy recipe for real SQLite transactions under aiosqlite (see the SQLite
    dialect's "Enabling Non-Legacy SQLite Transactional Modes")."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop the sqlite3 module from emitting its own (deferred, DML-only) BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # WAL makes NORMAL durable across application crashes; only an OS crash can lose
            # the last transactions, never corrupt the file.
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        read_only = bool(options.get(READ_ONLY, False))
        driver = conn.connection.driver_connection
        ours = driver if isinstance(driver, _ReadsInline) else None
        if ours is not None:
            ours.inline = read_only
            ours.writing = False
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")
        if ours is not None and not read_only and options.get(SMALL_WRITE, False):
            # The write lock is held: the rest of this small write waits for nothing.
            ours.inline = ours.writing = True


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    # '%' is ConfigParser's interpolation character; a URL-encoded password may contain it.
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


async def upgrade(url: str) -> None:
    """Migrate the database to the newest schema. Safe to re-run and to run concurrently.

    The migration runs on a connection of this event loop (Alembic's "connection sharing"
    recipe), so it can be awaited from any running loop. On PostgreSQL, ``env.py`` holds an
    advisory lock for the whole upgrade, so two processes starting together migrate once; on
    SQLite the upgrade is one ``BEGIN IMMEDIATE`` transaction. Within one process, upgrades
    take turns: Alembic keeps its running context in module globals.

    Args:
        url: The database URL.

    Raises:
        StorageError: The database could not be reached, or refused the migration.
    """
    config = _alembic_config(url)
    await _take_alembic_lock()
    try:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(_upgrade_on, config)
        finally:
            await engine.dispose()
    except (OSError, TimeoutError, sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        detail = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
        raise StorageError(f"cannot migrate {safe_url(url)}: {detail}") from exc
    finally:
        _ALEMBIC_LOCK.release()
    log.info("database schema is current (%s)", safe_url(url))


async def _take_alembic_lock() -> None:
    """Wait for this process's migration lock without blocking the event loop.

    The wait happens in a worker thread: taken inside ``run_sync`` instead, a blocking acquire
    would stop the very loop the lock's holder needs in order to finish.
    """
    acquiring = asyncio.ensure_future(asyncio.to_thread(_ALEMBIC_LOCK.acquire))
    try:
        await asyncio.shield(acquiring)
    except asyncio.CancelledError:
        # The thread may still get the lock for a caller that is gone: hand it straight back.
        def give_back(done: asyncio.Future[bool]) -> None:
            if not done.cancelled() and done.exception() is None:
                _ALEMBIC_LOCK.release()

        acquiring.add_done_callback(give_back)
        raise


def _upgrade_on(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")


def upgrade_sync(url: str) -> None:
    """Blocking :func:`upgrade`, for the command line and for synchronous start-up code.

    Called from a thread that runs an event loop, the upgrade runs in a worker thread with
    its own loop (and blocks the caller until done).

    Args:
        url: The database URL.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(upgrade(url))
        return
    failure: list[BaseException] = []

    def work() -> None:
        try:
            asyncio.run(upgrade(url))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=work, name="kpibot-migrate")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


# --------------------------------------------------------------------------- transactions

RETRY_SQLSTATES = frozenset({"40001", "40P01"})
"""PostgreSQL's serialization failure and deadlock: the transaction lost a race; run it again."""


async def transaction(
    engine: AsyncEngine,
    work: Callable[[AsyncConnection], Awaitable[T]],
    *,
    write: bool,
    attempts: int = 6,
    retry_on: tuple[type[BaseException], ...] = (sa_exc.IntegrityError,),
    label: str = "database",
) -> T:
    """Run ``work`` in one transaction, retrying lost races; map database failures.

    The one transaction policy of every store (ledger, statements, outbox). ``async with
    conn.begin()`` rolls back before any exception leaves it, so whatever is raised, nothing
    was half-written. A write is tried up to ``attempts`` times when it raises one of
    ``retry_on`` (a concurrent writer committed the same key first), meets a deadlock or a
    serialization failure, or its connection dropped (the pool reconnects); a read twice.

    Raises:
        ValueError: The database refused a value (a data exception, or a bind-time check).
        StorageError: The database is unreachable, failed otherwise, or every attempt lost.
    """
    tries = attempts if write else 2
    last: BaseException | None = None
    for attempt in range(1, tries + 1):
        try:
            async with engine.connect() as conn:
                if not write:
                    # SQLite: a reader takes no write lock (BEGIN DEFERRED, see make_engine).
                    conn = await conn.execution_options(**{READ_ONLY: True})
                async with conn.begin():
                    return await work(conn)
        except retry_on as exc:
            last = exc
        except sa_exc.DBAPIError as exc:
            if _is_data_error(exc):
                raise ValueError(f"value rejected by the database: {exc.orig}") from exc
            if not _is_retryable(exc):
                raise StorageError(f"{label}: database error: {describe_error(exc)}") from exc
            last = exc
        except sa_exc.StatementError as exc:
            # A bind-time check (kpi.storage types) refused a value.
            if isinstance(exc.orig, ValueError | TypeError):
                raise ValueError(str(exc.orig)) from exc
            raise
        except (OSError, TimeoutError, sa_exc.TimeoutError) as exc:
            raise StorageError(f"{label}: database unreachable: {describe_error(exc)}") from exc
        log.debug("%s transaction lost a race (attempt %d): %s", label, attempt, last)
    raise StorageError(
        f"{label}: transaction failed {tries} times: {describe_error(last)}"
    ) from last


def _is_retryable(exc: sa_exc.DBAPIError) -> bool:
    if exc.connection_invalidated:  # a dropped connection; the pool reconnects
        return True
    return getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES


def _is_data_error(exc: sa_exc.DBAPIError) -> bool:
    # 22xxx: data exception (numeric field overflow, invalid datetime, ...).
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(exc, sa_exc.DataError) or (
        isinstance(sqlstate, str) and sqlstate.startswith("22")
    )


def describe_error(exc: BaseException | None) -> str:
    """The driver's message, never the statement's parameters or the URL."""
    if isinstance(exc, sa_exc.StatementError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {exc.orig}"
    return f"{type(exc).__name__}: {exc}"
