"""Backup and restore: every row of every table as JSON lines, and back into an empty database.

A backup starts with a header line (``{"kpibot_backup": 1, "schema": [...]}``) naming the
schema's Alembic revisions, then one line per row, ``{"table": name, "row": {...}}``, tables in
foreign-key order and rows in key order. Values keep their exact form: decimals and instants as
text (``"12000.5"``, ISO 8601 in UTC), JSON documents as they are stored. Restoring inserts the
same rows with the same ids, so every statement, fee and audit trail reads back identical.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Numeric, Table, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import TypeDecorator

from kpi.db import transaction

FORMAT = 1
"""The backup format's version (the header's ``kpibot_backup``)."""
BATCH = 1000


class BackupError(ValueError):
    """A backup that cannot be written or restored; the message says why."""


def _kind(table: Table, column: str) -> str:
    col_type = table.c[column].type
    if isinstance(col_type, TypeDecorator):
        col_type = col_type.impl_instance
    if isinstance(col_type, JSON):
        return "json"
    if isinstance(col_type, DateTime):
        return "datetime"
    if isinstance(col_type, Date):
        return "date"
    if isinstance(col_type, Numeric) and col_type.asdecimal:
        return "decimal"
    return "plain"


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _decode(kind: str, value: Any) -> Any:
    if value is None or kind in ("plain", "json"):
        return value
    if kind == "decimal":
        return Decimal(value)
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    return dt.date.fromisoformat(value)


async def _revisions(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
    return sorted(str(r[0]) for r in rows)


async def _table_names(conn: AsyncConnection) -> set[str]:
    return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def dump(engine: AsyncEngine, tables: Sequence[Table]) -> AsyncIterator[str]:
    """Every row of ``tables`` as backup lines (header first), in one consistent read.

    Args:
        engine: The database.
        tables: Every kpibot table, in foreign-key order (``MetaData.sorted_tables``).

    Raises:
        BackupError: The database holds a table ``tables`` does not name (it would be lost).
    """
    async with engine.connect() as conn, conn.begin():
        unknown = await _table_names(conn) - {t.name for t in tables} - {"alembic_version"}
        if unknown:
            raise BackupError(f"tables this kpibot does not know: {', '.join(sorted(unknown))}")
        header = {"kpibot_backup": FORMAT, "schema": await _revisions(conn)}
        yield json.dumps(header)
        for table in tables:
            order = list(table.primary_key.columns) or list(table.c)
            result = await conn.stream(select(table).order_by(*order))
            async for row in result:
                record = {k: _encode(v) for k, v in row._mapping.items()}
                yield json.dumps({"table": table.name, "row": record}, ensure_ascii=False)


async def restore(
    engine: AsyncEngine, tables: Sequence[Table], lines: Iterable[str]
) -> dict[str, int]:
    """Insert a backup's rows into an empty database at the backup's schema.

    Args:
        engine: The database, migrated and empty.
        tables: Every kpibot table (as for :func:`dump`).
        lines: The backup's lines.

    Returns:
        How many rows went into each table.

    Raises:
        BackupError: A malformed backup, another schema, or a database that is not empty.
            Nothing is written then: the restore is one transaction.
    """
    by_name = {t.name: t for t in tables}
    rows = iter(_parse(lines))
    header = next(rows, None)
    if not isinstance(header, dict) or header.get("kpibot_backup") != FORMAT:
        raise BackupError("line 1: not a kpibot backup (no kpibot_backup header)")

    async def work(conn: AsyncConnection) -> dict[str, int]:
        if await _revisions(conn) != header.get("schema"):
            raise BackupError(
                f"the backup's schema {header.get('schema')} is not this database's "
                f"{await _revisions(conn)}: restore with the kpibot version that wrote it"
            )
        for table in tables:
            if (await conn.execute(select(func.count()).select_from(table))).scalar_one():
                raise BackupError(f"the database is not empty (table {table.name} has rows)")
        counts = await _insert_all(conn, by_name, rows)
        if conn.dialect.name == "postgresql":
            await _advance_sequences(conn, tables)
        return counts

    return await transaction(engine, work, write=True, attempts=1, label="restore")


def _parse(lines: Iterable[str]) -> Iterable[Any]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise BackupError(f"line {number}: not JSON ({exc.msg})") from None


async def _insert_all(
    conn: AsyncConnection, by_name: dict[str, Table], records: Iterable[Any]
) -> dict[str, int]:
    counts: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    current: Table | None = None
    for record in records:
        table = by_name.get(str(record.get("table"))) if isinstance(record, dict) else None
        if table is None:
            raise BackupError(f"a row of an unknown table: {str(record)[:80]}")
        if table is not current or len(batch) >= BATCH:
            if current is not None and batch:
                await conn.execute(current.insert(), batch)
            batch, current = [], table
        kinds = {name: _kind(table, name) for name in record["row"]}
        batch.append({k: _decode(kinds[k], v) for k, v in record["row"].items()})
        counts[table.name] = counts.get(table.name, 0) + 1
    if current is not None and batch:
        await conn.execute(current.insert(), batch)
    return counts


async def _advance_sequences(conn: AsyncConnection, tables: Sequence[Table]) -> None:
    """PostgreSQL: the next id of each serial column follows the restored ones."""
    for table in tables:
        key = list(table.primary_key.columns)
        if len(key) != 1:
            continue
        column = key[0].name
        sequence = (
            await conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column}
            )
        ).scalar_one_or_none()
        if sequence is None:  # not a serial column (a text key such as deals.id)
            continue
        await conn.execute(
            text(
                f'SELECT setval(:s, COALESCE((SELECT MAX("{column}") FROM "{table.name}"), 0) + 1,'
                " false)"
            ),
            {"s": sequence},
        )
