"""The ledger: deals and their versions, chat links, entries, heads, verdicts, chat aliases.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

The column types are spelled out here rather than imported from ``kpi.storage``, so that this
migration keeps creating the same schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Exact decimals: numeric on PostgreSQL, the decimal's text on SQLite (whose NUMERIC is a float).
VALUE = sa.Numeric(20, 4).with_variant(sa.String(22), "sqlite")
# BIGINT ids, but SQLite only auto-increments an INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the ledger's tables."""
    op.create_table(
        "deals",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deals"),
    )
    op.create_table(
        "deal_versions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("applied_at", STAMP, nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deal_versions"),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_deal_versions_deal_id_deals"),
        sa.UniqueConstraint("deal_id", "version", name="uq_deal_versions_deal_id_version"),
    )
    op.create_table(
        "chat_links",
        sa.Column("chat_id", sa.String(200), nullable=False),
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "deal_id", name="pk_chat_links"),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_chat_links_deal_id_deals"),
        sa.CheckConstraint("side IN ('seller', 'agency', 'shared')", name="ck_chat_links_side"),
    )
    op.create_index("ix_chat_links_deal_id", "chat_links", ["deal_id"])
    op.create_table(
        "entries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", VALUE, nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("person_name", sa.Text(), nullable=False),
        sa.Column("chat", sa.String(200), nullable=False),
        sa.Column("message_key", sa.String(300), nullable=False),
        sa.Column("recorded_at", STAMP, nullable=False),
        sa.Column("supersedes", ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_entries"),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_entries_deal_id_deals"),
        sa.ForeignKeyConstraint(
            ["supersedes"], ["entries.id"], name="fk_entries_supersedes_entries"
        ),
        sa.UniqueConstraint(
            "deal_id", "message_key", "metric", name="uq_entries_deal_id_message_key_metric"
        ),
        sa.UniqueConstraint("supersedes", name="uq_entries_supersedes"),
        sa.CheckConstraint("side IN ('seller', 'agency')", name="ck_entries_side"),
    )
    op.create_index("ix_entries_deal_id_day", "entries", ["deal_id", "day"])
    op.create_table(
        "heads",
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("entry_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("deal_id", "day", "metric", "side", name="pk_heads"),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_heads_deal_id_deals"),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], name="fk_heads_entry_id_entries"),
        sa.CheckConstraint("side IN ('seller', 'agency')", name="ck_heads_side"),
    )
    op.create_table(
        "verdicts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("person_name", sa.Text(), nullable=False),
        sa.Column("entry_id", ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("chat", sa.String(200), nullable=False),
        sa.Column("message_key", sa.String(300), nullable=False),
        sa.Column("recorded_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_verdicts"),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_verdicts_deal_id_deals"),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], name="fk_verdicts_entry_id_entries"),
        sa.UniqueConstraint("deal_id", "message_key", name="uq_verdicts_deal_id_message_key"),
        sa.CheckConstraint("kind IN ('confirm', 'dispute')", name="ck_verdicts_kind"),
        sa.CheckConstraint("side IN ('seller', 'agency')", name="ck_verdicts_side"),
    )
    op.create_index("ix_verdicts_deal_id_day", "verdicts", ["deal_id", "day"])
    op.create_table(
        "chat_aliases",
        sa.Column("old_chat_id", sa.String(200), nullable=False),
        sa.Column("new_chat_id", sa.String(200), nullable=False),
        sa.Column("migrated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("old_chat_id", name="pk_chat_aliases"),
    )


def downgrade() -> None:
    """Drop the ledger's tables (and everything in them)."""
    op.drop_table("chat_aliases")
    op.drop_index("ix_verdicts_deal_id_day", table_name="verdicts")
    op.drop_table("verdicts")
    op.drop_table("heads")
    op.drop_index("ix_entries_deal_id_day", table_name="entries")
    op.drop_table("entries")
    op.drop_index("ix_chat_links_deal_id", table_name="chat_links")
    op.drop_table("chat_links")
    op.drop_table("deal_versions")
    op.drop_table("deals")
