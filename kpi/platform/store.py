"""The platform source's storage: imports stored once per row key, sessions, day figures.

An import is one transaction. Each record is looked up by its natural key: a key whose current
row has the same content is counted as already imported and nothing is written; a new key
starts a chain; a changed row (a refund that arrived later) is a new row that supersedes the
current one, and the key's head moves to it. Rows are never updated or deleted. Two imports of
one file at once: the second to insert a head loses on the primary key, retries, and then
finds every row already imported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kpi.db import transaction
from kpi.platform.headers import Kind
from kpi.platform.parse import ParsedExport, PlatformRow
from kpi.platform.tables import platform_heads, platform_imports, platform_rows

__all__ = [
    "ImportRecord",
    "ImportResult",
    "PlatformSpan",
    "PlatformStore",
    "Session",
    "Uploader",
    "figures_on",
]

_CHUNK = 500


@dataclass(frozen=True)
class Uploader:
    """Who imported a file, and from where (a chat id, or ``cli``)."""

    person: str
    person_name: str
    chat: str


@dataclass(frozen=True)
class ImportResult:
    """What one import stored: ``stored`` new or changed rows of ``rows``; ``days`` touched."""

    import_id: int
    kind: Kind
    rows: int
    stored: int
    already: int
    first_day: dt.date | None
    last_day: dt.date | None
    days: tuple[dt.date, ...]


@dataclass(frozen=True)
class ImportRecord:
    """One import as /history shows it: who imported which file when."""

    file_name: str
    sha256: str
    kind: str
    person: str
    person_name: str
    chat: str
    imported_at: dt.datetime
    rows: int
    stored: int


@dataclass(frozen=True)
class Session:
    """One livestream session, as the LIVE analytics export reported it last."""

    creator_id: str
    creator: str
    nickname: str
    start: dt.datetime
    day: dt.date
    duration: dt.timedelta
    figures: dict[str, Decimal]


@dataclass(frozen=True)
class PlatformSpan:
    """The platform's figures of the days ``first`` to ``last``, read once
    (:meth:`PlatformStore.read_span`): day figures and sessions of any days within."""

    first: dt.date
    last: dt.date
    days: dict[dt.date, dict[str, Decimal]]
    live: list[Session]

    def covers(self, first: dt.date, last: dt.date) -> bool:
        """Whether the days ``first`` to ``last`` lie within the span."""
        return self.first <= first and last <= self.last

    def day_figures(self, first: dt.date, last: dt.date) -> dict[dt.date, dict[str, Decimal]]:
        """:meth:`PlatformStore.day_figures` of days within the span."""
        return {day: values for day, values in self.days.items() if first <= day <= last}

    def sessions(self, first: dt.date, last: dt.date) -> list[Session]:
        """:meth:`PlatformStore.sessions` of days within the span."""
        return [s for s in self.live if first <= s.day <= last]


class _Unchanged(Exception):
    """Leaves an import's transaction that stored nothing and is not to be recorded."""

    def __init__(self, result: ImportResult) -> None:
        super().__init__("nothing new")
        self.result = result


def _figures_text(values: dict[str, Decimal]) -> str:
    return json.dumps({k: str(v) for k, v in sorted(values.items())})


def _figures(text: str) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in json.loads(text).items()}


def _day_totals(rows: Sequence[Any]) -> dict[dt.date, dict[str, Decimal]]:
    """Current rows' figures summed per day (:meth:`PlatformStore.day_figures`)."""
    totals: dict[dt.date, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        day = totals[row.day]
        for name, value in _figures(row.figures).items():
            day[name] = day.get(name, Decimal(0)) + value
    return dict(totals)


def _session(row: Any) -> Session:
    """A current LIVE row as a session (:meth:`PlatformStore.sessions`)."""
    detail = json.loads(row.detail)
    return Session(
        creator_id=detail["creator_id"],
        creator=detail.get("creator", ""),
        nickname=detail.get("nickname", ""),
        start=row.at,
        day=row.day,
        duration=dt.timedelta(seconds=int(detail["duration"])),
        figures=_figures(row.figures),
    )


_CURRENT = (
    select(platform_rows)
    .join(platform_heads, platform_heads.c.row_id == platform_rows.c.id)
    .where(
        platform_heads.c.deal_id == bindparam("deal_id"),
        platform_heads.c.day >= bindparam("first"),
        platform_heads.c.day <= bindparam("last"),
    )
    .order_by(platform_rows.c.at, platform_rows.c.row_key)
)
"""The current rows of a deal's days (a LIVE-only read adds the kind), built once."""


def _import_row(
    deal_id: str,
    parsed: ParsedExport,
    data: bytes,
    file_name: str,
    uploader: Uploader,
    now: dt.datetime,
) -> dict[str, Any]:
    """The ``platform_imports`` row of an import, its ``stored`` count still 0."""
    days = [r.day for r in parsed.records]
    return {
        "deal_id": deal_id,
        "sha256": hashlib.sha256(data).hexdigest(),
        "file_name": file_name,
        "kind": parsed.kind,
        "person": uploader.person,
        "person_name": uploader.person_name,
        "chat": uploader.chat,
        "imported_at": now,
        "rows": len(parsed.records),
        "stored": 0,
        "first_day": min(days, default=None),
        "last_day": max(days, default=None),
    }


# The figures of the current rows of some (deal, day) pairs: read on every /report, so built
# once, with the pairs bound at execution.
_FIGURES_ON = (
    select(platform_heads.c.deal_id, platform_heads.c.day, platform_rows.c.figures)
    .join(platform_rows, platform_heads.c.row_id == platform_rows.c.id)
    .where(
        tuple_(platform_heads.c.deal_id, platform_heads.c.day).in_(
            bindparam("keys", expanding=True)
        )
    )
)


async def figures_on(
    conn: AsyncConnection, keys: Sequence[tuple[str, dt.date]]
) -> dict[tuple[str, dt.date], dict[str, Decimal]]:
    """The platform's figures of each ``(deal_id, day)`` in ``keys`` (every current row's,
    summed, as :meth:`PlatformStore.day_figures` sums them), read in ``conn``'s transaction:
    a writer of another table reads them with what it writes. A pair without imported rows is
    absent."""
    totals: dict[tuple[str, dt.date], dict[str, Decimal]] = defaultdict(dict)
    if not keys:
        return {}
    for deal_id, day, figures in await conn.execute(_FIGURES_ON, {"keys": sorted(set(keys))}):
        found = totals[(str(deal_id), day)]
        for name, value in _figures(figures).items():
            found[name] = found.get(name, Decimal(0)) + value
    return dict(totals)


class PlatformStore:
    """The platform source over the ledger's engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Create the store on a migrated database."""
        self._engine = engine

    async def import_export(
        self,
        deal_id: str,
        parsed: ParsedExport,
        *,
        data: bytes,
        file_name: str,
        uploader: Uploader,
        now: dt.datetime,
        record_unchanged: bool = True,
    ) -> ImportResult:
        """Store a checked export: each row once per natural key; changed rows supersede.

        Args:
            deal_id: The deal the file belongs to.
            parsed: The whole file, checked (:func:`kpi.platform.parse.load_export`).
            data: The file's bytes (its SHA-256 is kept with the import).
            file_name: The file's name as sent.
            uploader: Who imported it, from where.
            now: When (aware).
            record_unchanged: Whether an import that stored no row is still recorded (for
                /history). The Open API sync fetches unfinished days again and again; it
                keeps no record of the fetches that changed nothing.

        Returns:
            What was stored.
        """
        record = _import_row(deal_id, parsed, data, file_name, uploader, now)

        async def work(conn: AsyncConnection) -> ImportResult:
            return await self._import(conn, deal_id, parsed, record, record_unchanged)

        try:
            return await transaction(self._engine, work, write=True, label="platform")
        except _Unchanged as unchanged:
            return unchanged.result

    async def _import(
        self,
        conn: AsyncConnection,
        deal_id: str,
        parsed: ParsedExport,
        record: dict[str, Any],
        record_unchanged: bool,
    ) -> ImportResult:
        """:meth:`import_export`'s transaction: the import's row, then its rows chunk by chunk.

        Raises:
            _Unchanged: Nothing was stored and ``record_unchanged`` is false (a rollback).
        """
        insert_import = insert(platform_imports).returning(platform_imports.c.id)
        import_id = (await conn.execute(insert_import, record)).scalar_one()
        touched: set[dt.date] = set()
        stored = 0
        for start in range(0, len(parsed.records), _CHUNK):
            chunk = parsed.records[start : start + _CHUNK]
            stored += await self._store_chunk(conn, deal_id, import_id, chunk, touched)
        await conn.execute(
            update(platform_imports).where(platform_imports.c.id == import_id).values(stored=stored)
        )
        rows = len(parsed.records)
        result = ImportResult(
            import_id, parsed.kind, rows, stored, rows - stored, record["first_day"],
            record["last_day"], tuple(sorted(touched)),
        )  # fmt: skip
        if stored == 0 and not record_unchanged:
            raise _Unchanged(result)  # rolls the import record back
        return result

    async def _store_chunk(
        self,
        conn: AsyncConnection,
        deal_id: str,
        import_id: int,
        chunk: Sequence[PlatformRow],
        touched: set[dt.date],
    ) -> int:
        kind = chunk[0].kind
        current = await conn.execute(
            select(
                platform_heads.c.row_key,
                platform_rows.c.id,
                platform_rows.c.digest,
                platform_rows.c.day,
            )
            .join(platform_rows, platform_rows.c.id == platform_heads.c.row_id)
            .where(
                platform_heads.c.deal_id == deal_id,
                platform_heads.c.kind == kind,
                platform_heads.c.row_key.in_([r.key for r in chunk]),
            )
            .with_for_update(of=platform_heads)
        )
        heads = {key: (row_id, digest, day) for key, row_id, digest, day in current}
        stored = 0
        for record in chunk:
            digest = record.digest()
            head = heads.get(record.key)
            if head is not None and head[1] == digest:
                continue
            row_id = (
                await conn.execute(
                    insert(platform_rows).returning(platform_rows.c.id),
                    _row_values(deal_id, import_id, record, digest, head and head[0]),
                )
            ).scalar_one()
            await self._move_head(conn, deal_id, record, row_id, exists=head is not None)
            touched.add(record.day)
            if head is not None:
                touched.add(head[2])  # a row that moved to another day changes that day too
            stored += 1
        return stored

    async def _move_head(
        self, conn: AsyncConnection, deal_id: str, record: PlatformRow, row_id: int, *, exists: bool
    ) -> None:
        if exists:
            await conn.execute(
                update(platform_heads)
                .where(
                    platform_heads.c.deal_id == deal_id,
                    platform_heads.c.kind == record.kind,
                    platform_heads.c.row_key == record.key,
                )
                .values(row_id=row_id, day=record.day)
            )
        else:
            # A concurrent import that created this head first makes this insert fail on the
            # primary key; the transaction is retried and then finds the row.
            await conn.execute(
                insert(platform_heads),
                {
                    "deal_id": deal_id,
                    "kind": record.kind,
                    "row_key": record.key,
                    "row_id": row_id,
                    "day": record.day,
                },
            )

    async def _current(
        self, conn: AsyncConnection, deal_id: str, first: dt.date, last: dt.date, kind: str | None
    ) -> list[Any]:
        query = _CURRENT if kind is None else _CURRENT.where(platform_heads.c.kind == kind)
        return list(await conn.execute(query, {"deal_id": deal_id, "first": first, "last": last}))

    async def day_figures(
        self, deal_id: str, first: dt.date, last: dt.date
    ) -> dict[dt.date, dict[str, Decimal]]:
        """The platform's figures per business day: every current row's figures, summed.

        Args:
            deal_id: The deal.
            first: The first day (inclusive).
            last: The last day (inclusive).

        Returns:
            ``{day: {figure: total}}`` for the days with at least one imported row; figure
            names are the exports' (``live_gmv``, ``viewers``, ``sessions``, ``orders``,
            ``paid_amount``, ``refunds``, ``settlement``, ...).
        """

        async def work(conn: AsyncConnection) -> dict[dt.date, dict[str, Decimal]]:
            return _day_totals(await self._current(conn, deal_id, first, last, None))

        return await transaction(self._engine, work, write=False, label="platform")

    async def sessions(self, deal_id: str, first: dt.date, last: dt.date) -> list[Session]:
        """The livestream sessions that started on the days ``first`` to ``last``, by start."""

        async def work(conn: AsyncConnection) -> list[Session]:
            rows = await self._current(conn, deal_id, first, last, "live")
            return [_session(row) for row in rows]

        return await transaction(self._engine, work, write=False, label="platform")

    async def read_span(
        self, conn: AsyncConnection, deal_id: str, first: dt.date, last: dt.date
    ) -> PlatformSpan:
        """What :meth:`day_figures` and :meth:`sessions` answer for the days ``first`` to
        ``last``, from one statement on ``conn``: the caller's read transaction (a recap reads
        the platform's figures with its ledger records)."""
        rows = await self._current(conn, deal_id, first, last, None)
        live = [_session(row) for row in rows if row.kind == "live"]
        return PlatformSpan(first, last, _day_totals(rows), live)

    async def imports(self, deal_id: str, limit: int = 20) -> list[ImportRecord]:
        """The deal's latest imports, newest first: who imported which file when."""

        async def work(conn: AsyncConnection) -> list[ImportRecord]:
            rows = await conn.execute(
                select(platform_imports)
                .where(platform_imports.c.deal_id == deal_id)
                .order_by(platform_imports.c.imported_at.desc(), platform_imports.c.id.desc())
                .limit(limit)
            )
            return [
                ImportRecord(
                    r.file_name,
                    r.sha256,
                    r.kind,
                    r.person,
                    r.person_name,
                    r.chat,
                    r.imported_at,
                    r.rows,
                    r.stored,
                )
                for r in rows
            ]

        return await transaction(self._engine, work, write=False, label="platform")


def _row_values(
    deal_id: str, import_id: int, record: PlatformRow, digest: str, supersedes: int | None
) -> dict[str, Any]:
    return {
        "deal_id": deal_id,
        "kind": record.kind,
        "row_key": record.key,
        "digest": digest,
        "day": record.day,
        "at": record.at,
        "figures": _figures_text(record.values),
        "detail": json.dumps(record.detail, ensure_ascii=False, sort_keys=True),
        "import_id": import_id,
        "source_row": record.row,
        "supersedes": supersedes,
    }
