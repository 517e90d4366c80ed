"""Period statements, the rules: what a confirmation does, and how a closed statement is kept.

A period's fee is final once the period has ended, but it is *closed* only when an admin of each
side has confirmed the same statement. At that moment the statement (every line, the total and
the figures used) is stored as JSON and never changes again; corrections recorded later are
shown next to it as warnings (:func:`late_entries`), never applied.

Each confirmation records a digest of the statement its author saw. If the figures change
between the two confirmations, the statements differ, the earlier confirmation is voided (kept,
with ``voided_at``) and its side is asked to confirm again: nobody ends up bound to a total they
never saw (:func:`decide_confirmation`). A confirmation is keyed by its source message, so a
redelivered message is stored once.

Decimals are stored as their exact strings (``str(Decimal)``), so a stored statement reads back
identical on SQLite and PostgreSQL.

This module is pure (values in, values out); :mod:`kpi.statement_store` keeps the tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Literal, cast

from kpi.fees import FeeLine, FeeStatement
from kpi.model import Entry, Side, Verdict, other_side
from kpi.sides import Figure

__all__ = [
    "ConfirmDecision",
    "ConfirmOutcome",
    "ConfirmResult",
    "Confirmation",
    "OpenFigure",
    "StatementStatus",
    "StoredFigure",
    "StoredStatement",
    "decide_confirmation",
    "decode_figures",
    "decode_open_figures",
    "decode_statement",
    "encode_figures",
    "encode_open_figures",
    "encode_statement",
    "late_entries",
    "late_verdicts",
    "open_figures",
    "statement_digest",
]

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

_FORMAT = 1
"""Version of the stored JSON documents, so that a later reader can tell old ones apart."""

# Detail keys of fee lines whose string values are text, never numbers (see kpi.fees.FeeLine).
_TEXT_KEYS = frozenset(
    {"metric", "tiers", "of", "direction", "when", "unmet", "missing", "unit", "refund", "bound"}
)


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
    """What :meth:`kpi.statement_store.StatementStore.confirm` did, and the record afterwards."""

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


def decode_figures(rows: Iterable[Mapping[str, Any]]) -> tuple[StoredFigure, ...]:
    """The figures rows from :func:`encode_figures` describe, in their order."""
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


def encode_open_figures(figures: Iterable[Figure]) -> list[dict[str, str]]:
    """The figures still open (see :func:`open_figures`) as JSON rows, by day and metric."""
    return [
        {"day": f.day.isoformat(), "metric": f.metric, "why": f.why} for f in open_figures(figures)
    ]


def decode_open_figures(rows: Iterable[Mapping[str, Any]]) -> tuple[OpenFigure, ...]:
    """The open figures rows from :func:`encode_open_figures` describe, in their order."""
    return tuple(
        OpenFigure(dt.date.fromisoformat(row["day"]), row["metric"], row["why"]) for row in rows
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


# ------------------------------------------------------------------------------ confirming


@dataclass(frozen=True)
class ConfirmDecision:
    """What a confirmation does to its period, decided from the period's record alone."""

    outcome: ConfirmOutcome
    replaces: Confirmation | None = None
    """This side's own standing confirmation of different figures: voided by the new one."""
    voids: Confirmation | None = None
    """The other side's standing confirmation of different figures: voided (``reconfirm``)."""

    @property
    def writes(self) -> bool:
        """Whether the new confirmation is stored (otherwise nothing is written)."""
        return self.outcome in _WRITING

    @property
    def closes(self) -> bool:
        """Whether the period closes: the statement and its figures are stored for good."""
        return self.outcome == "closed"

    @property
    def voided(self) -> Confirmation | None:
        """The confirmation the new one replaced, as :class:`ConfirmResult` reports it."""
        return self.voids if self.voids is not None else self.replaces


_WRITING: frozenset[ConfirmOutcome] = frozenset({"recorded", "closed", "reconfirm"})


def decide_confirmation(record: StoredStatement, new: Confirmation) -> ConfirmDecision:
    """What ``new`` does to the period ``record`` holds, by the first rule that applies.

    * its message is already stored for this period: ``duplicate``, nothing written;
    * a closed period: ``already_closed``, nothing written;
    * this side already confirmed this very statement: ``already_confirmed``;
    * the other side's standing confirmation is by the same person (an admin in both sides'
      chats): ``same_person``, nothing written: a period needs two people to close;
    * otherwise ``new`` is stored (replacing this side's own earlier confirmation of different
      figures). If the other side's standing confirmation is of the same statement, the period
      closes: ``closed``. If it is of different figures, it is voided: ``reconfirm``. Without
      one: ``recorded``.

    Args:
        record: The period as stored, before ``new``.
        new: The confirmation being given (its ``digest`` is of the statement its author saw).

    Returns:
        The outcome, and which standing confirmations it voids.
    """
    if any(c.message_key == new.message_key for c in record.confirmations):
        return ConfirmDecision("duplicate")
    if record.closed:
        return ConfirmDecision("already_closed")
    mine = record.confirmation(new.side)
    if mine is not None and mine.digest == new.digest:
        return ConfirmDecision("already_confirmed")
    theirs = record.confirmation(other_side(new.side))
    if theirs is not None and theirs.person == new.person:
        return ConfirmDecision("same_person")
    if theirs is None:
        return ConfirmDecision("recorded", replaces=mine)
    if theirs.digest != new.digest:
        return ConfirmDecision("reconfirm", replaces=mine, voids=theirs)
    return ConfirmDecision("closed", replaces=mine)
