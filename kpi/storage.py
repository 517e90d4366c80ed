"""The ledger's tables (SQLAlchemy Core) and the column types that keep values exact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "VALUE_LIMIT",
    "VALUE_PLACES",
    "VALUE_PRECISION",
    "LedgerDecimal",
    "UtcDateTime",
    "canonical_decimal",
    "chat_aliases",
    "chat_links",
    "deal_versions",
    "deals",
    "entries",
    "heads",
    "metadata",
    "value_fits",
    "verdicts",
]

VALUE_PRECISION = 20
"""Total significant digits of a stored KPI value."""
VALUE_PLACES = 4
"""Decimal places of a stored KPI value (enough for rates such as ``0.0001``)."""
VALUE_LIMIT = Decimal(10) ** (VALUE_PRECISION - VALUE_PLACES)
"""Stored values are strictly between ``-VALUE_LIMIT`` and ``VALUE_LIMIT`` (10^16)."""

# Every constraint gets a predictable name, so that migrations can refer to it and errors
# can be read on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def value_fits(value: Decimal) -> bool:
    """Whether a KPI value can be stored exactly.

    Callers that take figures from people check this first, so that a user gets a clear
    message instead of a database error.

    Args:
        value: The figure.

    Returns:
        ``True`` for a finite value below :data:`VALUE_LIMIT` in magnitude with at most
        :data:`VALUE_PLACES` decimal places.
    """
    if not value.is_finite():
        return False
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite, so never 'n', 'N' or 'F'
    return exponent >= -VALUE_PLACES and abs(value) < VALUE_LIMIT


def canonical_decimal(value: Decimal) -> Decimal:
    """The one representation a stored value comes back in, whatever the database.

    PostgreSQL answers ``numeric(20, 4)`` with four places (``12000.5000``); SQLite keeps the
    text it was given. Both are made to answer ``12000.5``: trailing fractional zeros go,
    integers have no exponent (``340``, never ``3.4E+2``), and ``-0`` is ``0``.
    """
    if value.is_zero():
        return Decimal(0)
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


class LedgerDecimal(TypeDecorator[Decimal]):
    """An exact ``Decimal`` column: ``numeric(20, 4)`` on PostgreSQL, text on SQLite.

    SQLite has no decimal type (its NUMERIC affinity is a float), so the value is kept as its
    canonical decimal string there and the range is checked here; PostgreSQL checks the range
    itself (``numeric field overflow``). On both, a value with more than four decimal places is
    refused rather than rounded: a figure is never silently changed.
    """

    impl = Numeric(VALUE_PRECISION, VALUE_PLACES, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(VALUE_PRECISION + 2))
        return dialect.type_descriptor(Numeric(VALUE_PRECISION, VALUE_PLACES, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            # float would already have lost digits; int is exact but is not our type either.
            raise TypeError(f"ledger values are Decimal, not {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"ledger value must be finite, not {value}")
        canonical = canonical_decimal(value)
        exponent = canonical.as_tuple().exponent
        assert isinstance(exponent, int)
        if exponent < -VALUE_PLACES:
            raise ValueError(f"ledger value {value} has more than {VALUE_PLACES} decimal places")
        if dialect.name == "sqlite":
            if abs(canonical) >= VALUE_LIMIT:
                raise ValueError(f"ledger value {value} does not fit numeric(20, 4)")
            return format(canonical, "f")
        return canonical

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        try:
            return canonical_decimal(Decimal(value) if isinstance(value, str) else value)
        except InvalidOperation as exc:  # only a hand-edited SQLite file gets here
            raise ValueError(f"stored ledger value {value!r} is not a decimal") from exc


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware timestamp, stored in UTC and always read back aware (UTC).

    PostgreSQL's ``timestamptz`` already does this; SQLite stores text and would hand back a
    naive datetime, so the zone is attached on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be aware datetimes, not {value!r}")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _id_column(name: str = "id") -> Column[int]:
    # SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid), not a BIGINT one.
    return Column(
        name, BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )


deals = Table(
    "deals",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", Text, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

deal_versions = Table(
    "deal_versions",
    metadata,
    _id_column(),
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective", Date, nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
    Column("source_text", Text, nullable=False),
    UniqueConstraint("deal_id", "version"),
)

chat_links = Table(
    "chat_links",
    metadata,
    Column("chat_id", String(200), nullable=False),
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("side", String(10), nullable=False),
    PrimaryKeyConstraint("chat_id", "deal_id"),
    CheckConstraint("side IN ('seller', 'agency', 'shared')", name="side"),
    # The primary key already serves lookups by chat_id; this one serves a deal's links.
    Index(None, "deal_id"),
)

entries = Table(
    "entries",
    metadata,
    _id_column(),
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("day", Date, nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", LedgerDecimal, nullable=False),
    Column("side", String(10), nullable=False),
    Column("person", String(200), nullable=False),
    Column("person_name", Text, nullable=False),
    Column("chat", String(200), nullable=False),
    Column("message_key", String(300), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column(
        "supersedes",
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("entries.id"),
        nullable=True,
    ),
    # One source message is stored once per metric, whatever the platform redelivers.
    UniqueConstraint("deal_id", "message_key", "metric"),
    # An entry is superseded at most once: corrections form chains, never forks.
    UniqueConstraint("supersedes"),
    CheckConstraint("side IN ('seller', 'agency')", name="side"),
    Index(None, "deal_id", "day"),
)

heads = Table(
    "heads",
    metadata,
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("day", Date, nullable=False),
    Column("metric", String(64), nullable=False),
    Column("side", String(10), nullable=False),
    Column(
        "entry_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("entries.id"),
        nullable=False,
    ),
    # The key starts with (deal_id, day), so it is also the index period queries use.
    PrimaryKeyConstraint("deal_id", "day", "metric", "side"),
    CheckConstraint("side IN ('seller', 'agency')", name="side"),
)

verdicts = Table(
    "verdicts",
    metadata,
    _id_column(),
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("day", Date, nullable=False),
    Column("metric", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("side", String(10), nullable=False),
    Column("person", String(200), nullable=False),
    Column("person_name", Text, nullable=False),
    Column(
        "entry_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("entries.id"),
        nullable=True,
    ),
    Column("reason", Text, nullable=False),
    Column("chat", String(200), nullable=False),
    Column("message_key", String(300), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("deal_id", "message_key"),
    CheckConstraint("kind IN ('confirm', 'dispute')", name="kind"),
    CheckConstraint("side IN ('seller', 'agency')", name="side"),
    Index(None, "deal_id", "day"),
)

chat_aliases = Table(
    "chat_aliases",
    metadata,
    Column("old_chat_id", String(200), primary_key=True),
    Column("new_chat_id", String(200), nullable=False),
    Column("migrated_at", UtcDateTime, nullable=False),
)
