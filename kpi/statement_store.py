"""The statements tables and their one store: confirmations given, and statements once closed.

The rules (what a confirmation does, how a statement is encoded) are :mod:`kpi.statements`;
this module reads and writes ``statements`` and ``statement_confirmations`` and nothing else
does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kpi.db import transaction
from kpi.fees import FeeStatement
from kpi.model import SIDES, Side
from kpi.periods import Period
from kpi.sides import Figure
from kpi.statements import (
    Confirmation,
    ConfirmResult,
    StatementStatus,
    StoredStatement,
    decide_confirmation,
    decode_figures,
    decode_open_figures,
    decode_statement,
    encode_figures,
    encode_open_figures,
    encode_statement,
    statement_digest,
)
from kpi.storage import UtcDateTime, deals, metadata

__all__ = ["StatementStore", "statement_confirmations", "statement_on", "statements"]

T = TypeVar("T")

_ATTEMPTS = 6

_ID = BigInteger().with_variant(Integer(), "sqlite")

statements = Table(
    "statements",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("period", String(20), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("status", String(10), nullable=False),
    Column("statement", JSON(none_as_null=True), nullable=True),
    Column("figures", JSON(none_as_null=True), nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Where the ledger stood when the closing statement's figures were read (revision 0011).
    Column("last_entry_id", _ID, nullable=True),
    Column("last_verdict_id", _ID, nullable=True),
    Column("open_figures", JSON(none_as_null=True), nullable=True),
    UniqueConstraint("deal_id", "period"),
    CheckConstraint("status IN ('open', 'closed')", name="status"),
)
"""One row per deal and period once anybody confirms it; the stored statement when closed."""

statement_confirmations = Table(
    "statement_confirmations",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("statement_id", _ID, ForeignKey("statements.id"), nullable=False),
    Column("side", String(10), nullable=False),
    Column("person", String(200), nullable=False),
    Column("person_name", Text, nullable=False),
    Column("chat", String(200), nullable=False),
    Column("message_key", String(300), nullable=False),
    Column("confirmed_at", UtcDateTime, nullable=False),
    Column("total", String(60), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("voided_at", UtcDateTime, nullable=True),
    # A redelivered confirmation is stored once. The key starts with statement_id, so it also
    # serves "the confirmations of a statement".
    UniqueConstraint("statement_id", "message_key"),
    CheckConstraint("side IN ('seller', 'agency')", name="side"),
)
"""Every confirmation ever given, voided ones included (the audit trail)."""


_GET = select(statements).where(
    statements.c.deal_id == bindparam("deal_id"), statements.c.period == bindparam("period")
)


async def statement_on(conn: AsyncConnection, deal_id: str, period: str) -> StoredStatement | None:
    """A deal's period record (:meth:`StatementStore.get`), read in ``conn``'s transaction: a
    writer of another table reads it with what it writes (a late report, its period's)."""
    row = (await conn.execute(_GET, {"deal_id": deal_id, "period": period})).one_or_none()
    return None if row is None else await _record(conn, row)


class StatementStore:
    """Confirmations and closed statements, over the ledger's engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Create the store.

        Args:
            engine: An engine from :func:`kpi.db.make_engine` on a database migrated to
                revision 0002 or later (``Ledger.engine`` will do).
        """
        self._engine = engine

    async def get(self, deal_id: str, period: str) -> StoredStatement | None:
        """A deal's period record (``None`` when nobody has confirmed it yet).

        Raises:
            StorageError: The database failed.
        """

        async def work(conn: AsyncConnection) -> StoredStatement | None:
            return await statement_on(conn, deal_id, period)

        return await self._run(work, write=False)

    async def closed(self, deal_id: str) -> list[StoredStatement]:
        """Every closed statement of a deal, oldest period first."""

        async def work(conn: AsyncConnection) -> list[StoredStatement]:
            rows = await conn.execute(
                select(statements)
                .where(statements.c.deal_id == deal_id, statements.c.status == "closed")
                .order_by(statements.c.period_start)
            )
            return [await _record(conn, row) for row in rows.all()]

        return await self._run(work, write=False)

    async def confirm(
        self,
        *,
        deal_id: str,
        period: Period,
        side: Side,
        person: str,
        person_name: str,
        chat: str,
        message_key: str,
        at: dt.datetime,
        statement: FeeStatement,
        figures: Iterable[Figure],
        position: tuple[int, int] | None = None,
    ) -> ConfirmResult:
        """Record a side's confirmation of an ended period's statement; close it when both agree.

        In one transaction on the period's locked row (two admins confirming at once are
        serialized), it does what :func:`kpi.statements.decide_confirmation` decides; on
        ``closed`` the statement and its figures are stored with ``closed_at = at``.

        Args:
            deal_id: An applied deal.
            period: The ended period.
            side: The confirming admin's side.
            person: Their identity; ``person_name`` their display name.
            chat: The chat the confirmation came from.
            message_key: The source message's stable key.
            at: When the confirmation was sent (aware); the close time if it closes.
            statement: The ``final`` view of the period as the admin was shown it.
            figures: The period's resolved figures (the counted ones are stored, and those
                still open are named: see :func:`kpi.statements.open_figures`).
            position: :meth:`kpi.ledger.Ledger.ledger_position` read before ``figures`` were:
                what the ledger held when the statement was computed; stored if it closes.

        Returns:
            The outcome and the period's record after it.

        Raises:
            ValueError: ``side`` is not seller or agency, or ``at`` is naive.
            LookupError: The deal was never applied.
            StorageError: The database failed; nothing was stored.
        """
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, not {side!r}")
        if at.tzinfo is None:
            raise ValueError("a confirmation time must be aware")
        document = encode_statement(statement)
        new = Confirmation(
            side=side, person=person, person_name=person_name, chat=chat,
            message_key=message_key, at=at, total=statement.total,
            digest=statement_digest(document),
        )
        closing = _closing_values(document, list(figures), position)

        async def work(conn: AsyncConnection) -> ConfirmResult:
            return await _confirm(conn, deal_id, period, new, closing)

        return await self._run(work, write=True)

    async def _run(self, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool) -> T:
        """One transaction under the ledger's policy (``kpi.db.transaction``)."""
        return await transaction(
            self._engine, work, write=write, attempts=_ATTEMPTS, label="statements"
        )


def _closing_values(
    document: dict[str, Any], figures: list[Figure], position: tuple[int, int] | None
) -> dict[str, Any]:
    """The period row's columns once it closes on ``document`` (``closed_at`` aside)."""
    return {
        "status": "closed",
        "statement": document,
        "figures": encode_figures(figures),
        "last_entry_id": None if position is None else position[0],
        "last_verdict_id": None if position is None else position[1],
        "open_figures": encode_open_figures(figures),
    }


async def _confirm(
    conn: AsyncConnection,
    deal_id: str,
    period: Period,
    new: Confirmation,
    closing: dict[str, Any],
) -> ConfirmResult:
    """:meth:`StatementStore.confirm`'s transaction: decide on the locked row, then write."""
    row = await _period_row(conn, deal_id, period, new.at)
    record = await _record(conn, row)
    decision = decide_confirmation(record, new)
    if not decision.writes:
        return ConfirmResult(decision.outcome, record)
    if decision.replaces is not None:
        await _void(conn, row.id, decision.replaces, new.at)
    await _insert_confirmation(conn, row.id, new)
    if decision.voids is not None:
        await _void(conn, row.id, decision.voids, new.at)
    if decision.closes:
        await conn.execute(
            update(statements)
            .where(statements.c.id == row.id)
            .values({**closing, "closed_at": new.at})
        )
    fresh = await _lock_period(conn, deal_id, period.label)
    assert fresh is not None
    return ConfirmResult(decision.outcome, await _record(conn, fresh), decision.voided)


async def _period_row(
    conn: AsyncConnection, deal_id: str, period: Period, at: dt.datetime
) -> Row[Any]:
    """The period's row, locked; the first confirmation creates it (open) at ``at``.

    Raises:
        LookupError: The deal was never applied.
    """
    found = (await conn.execute(select(deals.c.id).where(deals.c.id == deal_id))).first()
    if found is None:
        raise LookupError(f"unknown deal {deal_id!r}")
    row = await _lock_period(conn, deal_id, period.label)
    if row is not None:
        return row
    # A concurrent first confirmation fails this insert on the unique key; the retry then finds
    # and locks its row.
    await conn.execute(
        insert(statements).values(
            deal_id=deal_id,
            period=period.label,
            period_start=period.start,
            period_end=period.end,
            status="open",
            created_at=at,
        )
    )
    row = await _lock_period(conn, deal_id, period.label)
    assert row is not None
    return row


async def _insert_confirmation(
    conn: AsyncConnection, statement_id: int, confirmation: Confirmation
) -> None:
    await conn.execute(
        insert(statement_confirmations).values(
            statement_id=statement_id,
            side=confirmation.side,
            person=confirmation.person,
            person_name=confirmation.person_name,
            chat=confirmation.chat,
            message_key=confirmation.message_key,
            confirmed_at=confirmation.at,
            # str() keeps the exact Decimal, scale and all, as kpi.statements stores every one.
            total=str(confirmation.total),
            digest=confirmation.digest,
        )
    )


async def _lock_period(conn: AsyncConnection, deal_id: str, period: str) -> Row[Any] | None:
    # FOR UPDATE is a no-op on SQLite, where BEGIN IMMEDIATE already excludes other writers.
    return (
        await conn.execute(
            select(statements)
            .where(statements.c.deal_id == deal_id, statements.c.period == period)
            .with_for_update()
        )
    ).one_or_none()


async def _void(
    conn: AsyncConnection, statement_id: int, confirmation: Confirmation, at: dt.datetime
) -> None:
    await conn.execute(
        update(statement_confirmations)
        .where(
            statement_confirmations.c.statement_id == statement_id,
            statement_confirmations.c.message_key == confirmation.message_key,
        )
        .values(voided_at=at)
    )


async def _record(conn: AsyncConnection, row: Row[Any]) -> StoredStatement:
    rows = await conn.execute(
        select(statement_confirmations)
        .where(statement_confirmations.c.statement_id == row.id)
        .order_by(statement_confirmations.c.id)
    )
    confirmations = tuple(
        Confirmation(
            side=cast(Side, c.side),
            person=c.person,
            person_name=c.person_name,
            chat=c.chat,
            message_key=c.message_key,
            at=c.confirmed_at,
            total=Decimal(c.total),
            digest=c.digest,
            voided_at=c.voided_at,
        )
        for c in rows
    )
    return StoredStatement(
        deal_id=row.deal_id,
        period=row.period,
        period_start=row.period_start,
        period_end=row.period_end,
        status=cast(StatementStatus, row.status),
        confirmations=confirmations,
        statement=None if row.statement is None else decode_statement(row.statement),
        figures=decode_figures(row.figures or ()),
        closed_at=row.closed_at,
        position=(
            None
            if row.last_entry_id is None
            else (int(row.last_entry_id), int(row.last_verdict_id or 0))
        ),
        open_figures=decode_open_figures(row.open_figures or ()),
    )
