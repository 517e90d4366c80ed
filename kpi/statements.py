"""Closed period statements: confirmations by each side, and the statement stored when both agree.

A period's fee is final once the period has ended, but it is *closed* only when an admin of each
side has confirmed the same statement. At that moment the statement (every line, the total and
the figures used) is stored as JSON and never changes again; corrections recorded later are
shown next to it as warnings (:func:`late_entries`), never applied.

Each confirmation records a digest of the statement its author saw. If the figures change
between the two confirmations, the statements differ, the earlier confirmation is voided (kept,
with ``voided_at``) and its side is asked to confirm again: nobody ends up bound to a total they
never saw. A confirmation is keyed by its source message, so a redelivered message is stored
once.

Decimals are stored as their exact strings (``str(Decimal)``), so a stored statement reads back
identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Literal, TypeVar, cast

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
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kpi.db import transaction
from kpi.fees import FeeLine, FeeStatement
from kpi.model import SIDES, Entry, Side, Verdict, other_side
from kpi.periods import Period
from kpi.sides import Figure
from kpi.storage import UtcDateTime, deals, metadata

__all__ = [
    "ConfirmOutcome",
    "ConfirmResult",
    "Confirmation",
    "OpenFigure",
    "StatementStore",
    "StoredFigure",
    "StoredStatement",
    "decode_statement",
    "encode_figures",
    "encode_statement",
    "late_entries",
    "late_verdicts",
    "open_figures",
    "statement_confirmations",
    "statement_digest",
    "statements",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

StatementStatus = Literal["open", "closed"]
ConfirmOutcome = Literal[
    "recorded",  # this side's confirmation is stored; the other side has not confirmed yet
    "closed",  # both sides confirmed the same statement: it is stored and final
    "reconfirm",  # the other side had confirmed different figures: theirs is voided
    "already_confirmed",  # this side had already confirmed this very statement
    "already_closed",  # the period was closed before; nothing changes
    "duplicate",  # the same message was already stored
    "same_person",  # this person confirmed for the other side: one person cannot close alone
]

_ATTEMPTS = 6
# serialization_failure, deadlock_detected: another writer won; try again.
_FORMAT = 1
"""Version of the stored JSON documents, so that a later reader can tell old ones apart."""

# Detail keys of fee lines whose string values are text, never numbers (see kpi.fees.FeeLine).
_TEXT_KEYS = frozenset(
    {"metric", "tiers", "of", "direction", "when", "unmet", "missing", "unit", "refund", "bound"}
)

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


# ------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class Confirmation:
    """One side's confirmation of a period statement."""

    side: Side
    person: str
    person_name: str
    chat: str
    message_key: str
    at: dt.datetime
    total: Decimal
    """The total of the statement this person confirmed."""
    digest: str
    """:func:`statement_digest` of that statement."""
    voided_at: dt.datetime | None = None
    """When a confirmation of other figures by the other side replaced it (None: standing)."""

    @property
    def who(self) -> str:
        """The person's display name, or their identity when there is none."""
        return self.person_name or self.person


@dataclass(frozen=True)
class StoredFigure:
    """A figure that counted in a closed statement: one metric on one day."""

    day: dt.date
    metric: str
    value: Decimal
    side: Side | None
    status: str


@dataclass(frozen=True)
class OpenFigure:
    """A figure not agreed when its period was closed: ``pending`` or ``disputed``."""

    day: dt.date
    metric: str
    why: Literal["pending", "disputed"]


def open_figures(figures: Iterable[Figure]) -> list[OpenFigure]:
    """The figures not agreed yet (pending, or under a standing dispute), by day and metric."""
    return sorted(
        (
            OpenFigure(f.day, f.metric, "pending" if f.status == "pending" else "disputed")
            for f in figures
            if f.open
        ),
        key=lambda f: (f.day, f.metric),
    )


@dataclass(frozen=True)
class StoredStatement:
    """A deal's period as the statements table holds it."""

    deal_id: str
    period: str
    period_start: dt.date
    period_end: dt.date
    status: StatementStatus
    confirmations: tuple[Confirmation, ...]
    """Every confirmation, oldest first, voided ones included."""
    statement: FeeStatement | None
    """The stored statement (``None`` until closed)."""
    figures: tuple[StoredFigure, ...]
    """The counted figures the stored statement used (empty until closed)."""
    closed_at: dt.datetime | None
    position: tuple[int, int] | None = None
    """The deal's highest entry and verdict ids when the closing statement's figures were read:
    a higher id is a late change. ``None`` for a period closed before revision 0011."""
    open_figures: tuple[OpenFigure, ...] = ()
    """The figures still pending or disputed when the period was closed (``anyway``)."""

    @property
    def closed(self) -> bool:
        return self.status == "closed"

    def confirmation(self, side: Side) -> Confirmation | None:
        """The side's standing (not voided) confirmation."""
        return next(
            (c for c in reversed(self.confirmations) if c.side == side and c.voided_at is None),
            None,
        )

    def figure(self, day: dt.date, metric: str) -> StoredFigure | None:
        """The figure that counted for ``metric`` on ``day`` in the stored statement."""
        return next((f for f in self.figures if f.day == day and f.metric == metric), None)


@dataclass(frozen=True)
class ConfirmResult:
    """What :meth:`StatementStore.confirm` did, and the period's record afterwards."""

    outcome: ConfirmOutcome
    record: StoredStatement
    voided: Confirmation | None = None
    """The confirmation this one replaced: the other side's (``reconfirm``) or the same side's
    own earlier one of different figures."""


# ------------------------------------------------------------------------------ JSON


def _dec(value: Decimal) -> str:
    # str() round-trips exactly, scale and all (Decimal("1500.00") stays "1500.00").
    return str(value)


def _encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _dec(value)
    if isinstance(value, tuple | list):
        return [_encode_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode_value(v) for k, v in value.items()}
    if value is None or isinstance(value, str | bool | int):
        return value
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in a statement")


def _decode_value(key: str, value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode_value(key, v) for v in value)
    if isinstance(value, dict):
        # A nested mapping (the performance line's shares) decodes like a line's detail.
        return MappingProxyType({k: _decode_value(k, v) for k, v in value.items()})
    if isinstance(value, str) and key not in _TEXT_KEYS:
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def encode_statement(statement: FeeStatement) -> dict[str, Any]:
    """A fee statement as a JSON-safe document, every ``Decimal`` as its exact string.

    Args:
        statement: The statement (normally the ``final`` view of an ended period).

    Returns:
        ``{"format", "view", "currency", "trial", "lines": [{"kind", "amount", "detail"}],
        "total", "values"}``.
    """
    return {
        "format": _FORMAT,
        "view": statement.view,
        "currency": statement.currency,
        "trial": statement.trial,
        "lines": [
            {
                "kind": line.kind,
                "amount": _dec(line.amount),
                "detail": _encode_value(line.detail),
            }
            for line in statement.lines
        ],
        "total": _dec(statement.total),
        "values": {
            name: None if value is None else _dec(value) for name, value in statement.values.items()
        },
    }


def decode_statement(document: Mapping[str, Any]) -> FeeStatement:
    """The fee statement a document from :func:`encode_statement` describes.

    Numbers come back as ``Decimal`` with the scale they were stored with; lists in line
    details come back as tuples, as :mod:`kpi.fees` builds them.
    """
    lines = tuple(
        FeeLine(
            kind=line["kind"],
            amount=Decimal(line["amount"]),
            detail=MappingProxyType(
                {key: _decode_value(key, value) for key, value in line["detail"].items()}
            ),
        )
        for line in document["lines"]
    )
    values = {
        name: None if value is None else Decimal(value)
        for name, value in document["values"].items()
    }
    return FeeStatement(
        view=document["view"],
        currency=document["currency"],
        trial=bool(document["trial"]),
        lines=lines,
        total=Decimal(document["total"]),
        values=MappingProxyType(values),
    )


def statement_digest(document: Mapping[str, Any]) -> str:
    """A fingerprint of a statement document: equal exactly when lines, total and figures are."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def encode_figures(figures: Iterable[Figure]) -> list[dict[str, Any]]:
    """The counted figures of a period as JSON rows, ordered by day and metric.

    Pending figures (nothing counts yet) are left out: the statement did not use them.
    """
    rows = [
        {
            "day": figure.day.isoformat(),
            "metric": figure.metric,
            "value": _dec(figure.value),
            "side": figure.counted_side,
            "status": figure.status,
        }
        for figure in figures
        if figure.value is not None
    ]
    return sorted(rows, key=lambda row: (row["day"], row["metric"]))


def _decode_figures(rows: Iterable[Mapping[str, Any]]) -> tuple[StoredFigure, ...]:
    return tuple(
        StoredFigure(
            day=dt.date.fromisoformat(row["day"]),
            metric=row["metric"],
            value=Decimal(row["value"]),
            side=cast("Side | None", row.get("side")),
            status=str(row.get("status", "counted")),
        )
        for row in rows
    )


# ------------------------------------------------------------------------------ late changes


def late_entries(record: StoredStatement, entries: Iterable[Entry]) -> list[Entry]:
    """Entries recorded after the period closed, for days of the period.

    Pass the period's *current* entries (``Ledger.current_entries`` over the period): a figure
    corrected twice after the close shows once, as it stands now.

    Args:
        record: A closed statement.
        entries: Entries of the deal.

    Returns:
        Those written after the statement's figures were read, on a day of the period, by
        day, metric, side. "After" is the ledger's order (a higher entry id than
        ``record.position``), not a timestamp: a correction in the same second as the close,
        or a message its platform dated before the close but delivered after, is late too.
        Periods closed before the position was kept fall back to ``recorded_at``. Empty for a
        statement that is not closed.
    """
    if record.closed_at is None:
        return []
    closed_at, position = record.closed_at, record.position

    def late(e: Entry) -> bool:
        return e.id > position[0] if position is not None else e.recorded_at > closed_at

    return sorted(
        (e for e in entries if late(e) and record.period_start <= e.day <= record.period_end),
        key=lambda e: (e.day, e.metric, e.side),
    )


def late_verdicts(record: StoredStatement, verdicts: Iterable[Verdict]) -> list[Verdict]:
    """Confirmations and disputes of figures recorded after the period closed, oldest first.

    Under ``truth: agreed`` a late confirmation can change what counts, so it is flagged too.
    """
    if record.closed_at is None:
        return []
    closed_at, position = record.closed_at, record.position

    def late(v: Verdict) -> bool:
        return v.id > position[1] if position is not None else v.recorded_at > closed_at

    return [v for v in verdicts if late(v) and record.period_start <= v.day <= record.period_end]


# ------------------------------------------------------------------------------ the store


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
            row = (
                await conn.execute(
                    select(statements).where(
                        statements.c.deal_id == deal_id, statements.c.period == period
                    )
                )
            ).one_or_none()
            return None if row is None else await _record(conn, row)

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

        In one transaction (the period's row is locked, so two admins confirming at the same
        moment are serialized):

        * a ``message_key`` already stored for this period: ``duplicate``, nothing written;
        * a closed period: ``already_closed``, nothing written;
        * this side already confirmed this very statement: ``already_confirmed``;
        * the other side's standing confirmation is by the same person (an admin in both sides'
          chats): ``same_person``, nothing written: a period needs two people to close;
        * otherwise the confirmation is stored (voiding this side's own earlier confirmation of
          different figures). If the other side's standing confirmation is of the same
          statement, the period closes: the statement and figures are stored with
          ``closed_at = at``. If it is of different figures, it is voided: ``reconfirm``.
          Without one: ``recorded``.

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
                still open are named: see :func:`open_figures`).
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
        digest = statement_digest(document)
        figures = list(figures)
        closed_values = {
            "status": "closed",
            "statement": document,
            "figures": encode_figures(figures),
            "last_entry_id": None if position is None else position[0],
            "last_verdict_id": None if position is None else position[1],
            "open_figures": [
                {"day": f.day.isoformat(), "metric": f.metric, "why": f.why}
                for f in open_figures(figures)
            ],
        }

        async def work(conn: AsyncConnection) -> ConfirmResult:
            found = (await conn.execute(select(deals.c.id).where(deals.c.id == deal_id))).first()
            if found is None:
                raise LookupError(f"unknown deal {deal_id!r}")
            row = await _lock_period(conn, deal_id, period.label)
            if row is None:
                # A concurrent first confirmation fails this insert on the unique key; the
                # retry then finds and locks its row.
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
            record = await _record(conn, row)
            if any(c.message_key == message_key for c in record.confirmations):
                return ConfirmResult("duplicate", record)
            if record.closed:
                return ConfirmResult("already_closed", record)
            mine = record.confirmation(side)
            if mine is not None and mine.digest == digest:
                return ConfirmResult("already_confirmed", record)
            theirs = record.confirmation(other_side(side))
            if theirs is not None and theirs.person == person:
                return ConfirmResult("same_person", record)
            voided: Confirmation | None = None
            if mine is not None:
                await _void(conn, row.id, mine, at)
                voided = mine
            await conn.execute(
                insert(statement_confirmations).values(
                    statement_id=row.id,
                    side=side,
                    person=person,
                    person_name=person_name,
                    chat=chat,
                    message_key=message_key,
                    confirmed_at=at,
                    total=_dec(statement.total),
                    digest=digest,
                )
            )
            outcome: ConfirmOutcome
            if theirs is None:
                outcome = "recorded"
            elif theirs.digest != digest:
                await _void(conn, row.id, theirs, at)
                voided, outcome = theirs, "reconfirm"
            else:
                await conn.execute(
                    update(statements)
                    .where(statements.c.id == row.id)
                    .values({**closed_values, "closed_at": at})
                )
                outcome = "closed"
            fresh = await _lock_period(conn, deal_id, period.label)
            assert fresh is not None
            return ConfirmResult(outcome, await _record(conn, fresh), voided)

        return await self._run(work, write=True)

    async def _run(self, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool) -> T:
        """One transaction under the ledger's policy (``kpi.db.transaction``)."""
        return await transaction(
            self._engine, work, write=write, attempts=_ATTEMPTS, label="statements"
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
        figures=_decode_figures(row.figures or ()),
        closed_at=row.closed_at,
        position=(
            None
            if row.last_entry_id is None
            else (int(row.last_entry_id), int(row.last_verdict_id or 0))
        ),
        open_figures=tuple(
            OpenFigure(dt.date.fromisoformat(f["day"]), f["metric"], f["why"])
            for f in row.open_figures or ()
        ),
    )
