"""Tests for the migrations and engines: idempotent, concurrent-safe, and matching the models."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

import kpi.migrations
from kpi.db import make_engine, normalize_url, safe_url, upgrade, upgrade_sync
from kpi.errors import StorageError
from kpi.storage import metadata

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = Path(kpi.migrations.__file__).parent


def script_heads() -> set[str]:
    return set(ScriptDirectory(str(MIGRATIONS)).get_heads())


async def applied_versions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        return {str(version) for version in rows.scalars()}


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_is_idempotent(db_url: str) -> None:
    await upgrade(db_url)
    await upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert set(metadata.tables) <= await table_names(engine)
        assert await applied_versions(engine) == script_heads()
    finally:
        await engine.dispose()


async def test_migrations_create_the_schema_of_the_models(db_url: str) -> None:
    await upgrade(db_url)
    engine = make_engine(db_url)

    def diff(sync: Connection) -> list[Any]:
        def ours(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
            # Other modules' migrations add their own tables; compare only the ledger's.
            table = name if kind == "table" else getattr(getattr(obj, "table", None), "name", None)
            return table in metadata.tables

        context = MigrationContext.configure(
            sync, opts={"include_object": ours, "compare_type": True}
        )
        return compare_metadata(context, metadata)

    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_concurrent_upgrades_in_one_process(db_url: str) -> None:
    await asyncio.gather(upgrade(db_url), upgrade(db_url), upgrade(db_url))
    engine = make_engine(db_url)
    try:
        assert await applied_versions(engine) == script_heads()
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_two_processes_upgrade_postgres_at_once(pg_url: str) -> None:
    code = "import sys; from kpi.db import upgrade_sync; upgrade_sync(sys.argv[1])"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            pg_url,
            cwd=ROOT,
            env=environment,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outcomes = [await process.communicate() for process in processes]
    for process, (_, stderr) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, stderr.decode()
    engine = make_engine(pg_url)
    try:
        assert await applied_versions(engine) == script_heads()
        assert set(metadata.tables) <= await table_names(engine)
    finally:
        await engine.dispose()


async def test_upgrade_sync_works_inside_a_running_loop(sqlite_url: str) -> None:
    upgrade_sync(sqlite_url)  # a synchronous call made from async code
    engine = make_engine(sqlite_url)
    try:
        assert await applied_versions(engine) == script_heads()
    finally:
        await engine.dispose()


def test_upgrade_sync_without_a_loop(sqlite_url: str) -> None:
    upgrade_sync(sqlite_url)
    upgrade_sync(sqlite_url)


async def test_sqlite_engine_settings(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 15000}


async def test_an_unreachable_database_is_a_storage_error_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = "postgresql://kpibot:s3cret-pw@127.0.0.1:1/kpibot"
    with pytest.raises(StorageError) as raised:
        await upgrade(url)
    assert "s3cret-pw" not in str(raised.value)
    assert "127.0.0.1:1" in str(raised.value)
    assert "s3cret-pw" not in caplog.text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("postgresql://u:p@db:5432/kpi", "postgresql+asyncpg://u:p@db:5432/kpi"),
        ("postgres://u:p@db/kpi", "postgresql+asyncpg://u:p@db/kpi"),
        ("postgresql+asyncpg://u@db/kpi", "postgresql+asyncpg://u@db/kpi"),
    ],
)
def test_normalize_url(
    url: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert normalize_url(url) == expected
    if url.startswith("sqlite"):
        assert (tmp_path / "data").is_dir()  # the database's folder is created


def test_safe_url_masks_the_password() -> None:
    assert safe_url("postgresql://u:hunter2@db/kpi") == "postgresql://u:***@db/kpi"
    assert "hunter2" not in safe_url("postgresql://u:hunter2@db:notaport/kpi")


async def test_escalations_gain_the_resolved_status_and_keep_their_rows(db_url: str) -> None:
    """0018: an escalation stored before it is still there after, and may now be ``resolved``
    (with when and what ended it); the status stays constrained. Downgrading reads a resolved
    one as acknowledged."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(db_url).replace("%", "%%"))
    # In a thread: env.py runs the migration on an event loop of its own.
    await asyncio.to_thread(command.upgrade, config, "0017")
    engine = make_engine(db_url)
    resolve = text(
        "UPDATE escalations SET status = 'resolved', open_key = NULL,"
        " resolved_at = '2026-11-04 18:00:00+00:00', resolution = '{\"pace\": \"106%\"}'"
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO escalations (deal_id, reason, origin, open_key, status, detail,"
                    " started_at) VALUES ('d', 'pace:gmv', '2026-11-03', 'pace:gmv', 'open',"
                    " '{}', '2026-11-03 18:00:00+00:00')"
                )
            )
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE escalations SET status = 'resolved'"))
        await asyncio.to_thread(command.upgrade, config, "heads")
        async with engine.begin() as conn:
            await conn.execute(resolve)
            found = (await conn.execute(text("SELECT * FROM escalations"))).one()
        assert (found.reason, found.origin, found.status) == ("pace:gmv", "2026-11-03", "resolved")
        assert found.open_key is None and found.resolution == '{"pace": "106%"}'
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE escalations SET status = 'ended'"))
        await engine.dispose()
        await asyncio.to_thread(command.downgrade, config, "0017")
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT reason, status FROM escalations"))).all()
        assert [tuple(r) for r in rows] == [("pace:gmv", "acked")]
    finally:
        await engine.dispose()
