"""The platform source's tables: imported files, their rows (append-only) and each key's head."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from kpi.storage import UtcDateTime, metadata

__all__ = ["platform_heads", "platform_imports", "platform_rows"]

_ID = BigInteger().with_variant(Integer(), "sqlite")

platform_imports = Table(
    "platform_imports",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("kind", String(10), nullable=False),
    Column("person", String(200), nullable=False),
    Column("person_name", Text, nullable=False),
    Column("chat", String(200), nullable=False),
    Column("imported_at", UtcDateTime, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("stored", Integer, nullable=False),
    Column("first_day", Date, nullable=True),
    Column("last_day", Date, nullable=True),
    Index(None, "deal_id", "imported_at"),
)

platform_rows = Table(
    "platform_rows",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("row_key", String(300), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    # {name: decimal text}; JSON text rather than columns because each export has its own.
    Column("figures", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("import_id", _ID, ForeignKey("platform_imports.id"), nullable=False),
    Column("source_row", Integer, nullable=False),
    Column("supersedes", _ID, ForeignKey("platform_rows.id"), nullable=True),
    # A row is superseded at most once: a key's versions form a chain, never a fork.
    UniqueConstraint("supersedes"),
)

platform_heads = Table(
    "platform_heads",
    metadata,
    Column("deal_id", String(100), ForeignKey("deals.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("row_key", String(300), nullable=False),
    Column("row_id", _ID, ForeignKey("platform_rows.id"), nullable=False),
    Column("day", Date, nullable=False),
    PrimaryKeyConstraint("deal_id", "kind", "row_key"),
    Index(None, "deal_id", "day"),
)
