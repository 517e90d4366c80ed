"""Alembic environment: async engines, one transaction per upgrade, one migrator at a time."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text

from kpi.db import make_engine
from kpi.storage import metadata

# Any constant works, as long as every kpibot process uses the same one ("kpibot" in ASCII).
ADVISORY_LOCK_KEY = 0x6B7062_6F74

config = context.config
target_metadata = metadata


def run_migrations_offline() -> None:
    """Emit the SQL of the upgrade instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run every pending migration in one transaction on ``connection``."""
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # kpi.db makes SQLite transactions real (SQLAlchemy emits BEGIN IMMEDIATE), so DDL is
        # transactional there too: a failed upgrade leaves nothing behind, and a second
        # process waits for the write lock and then finds the schema current.
        transactional_ddl=True,
        render_as_batch=is_sqlite,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two replicas starting together: the second waits here until the first has
            # committed, then reads the new version and has nothing to do. The lock is released
            # with the transaction, even if the process dies.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
        context.run_migrations()


async def run_async_migrations() -> None:
    """Connect with kpibot's own engine settings and run the migrations."""
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Use the caller's connection if ``kpi.db.upgrade`` gave one, else open our own."""
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
