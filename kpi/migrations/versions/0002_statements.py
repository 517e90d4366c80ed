"""Period statements: confirmations by each side, and the statement stored when a period closes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

As in 0001, the column types are spelled out here rather than imported from ``kpi.statements``,
so that this migration keeps creating the same schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the statements and statement_confirmations tables."""
    op.create_table(
        "statements",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("statement", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("figures", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("closed_at", STAMP, nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_statements"),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_statements_deal_id_deals"),
        sa.UniqueConstraint("deal_id", "period", name="uq_statements_deal_id_period"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_statements_status"),
    )
    op.create_table(
        "statement_confirmations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("statement_id", ID, nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("person_name", sa.Text(), nullable=False),
        sa.Column("chat", sa.String(200), nullable=False),
        sa.Column("message_key", sa.String(300), nullable=False),
        sa.Column("confirmed_at", STAMP, nullable=False),
        sa.Column("total", sa.String(60), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("voided_at", STAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_statement_confirmations"),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["statements.id"],
            name="fk_statement_confirmations_statement_id_statements",
        ),
        sa.UniqueConstraint(
            "statement_id",
            "message_key",
            name="uq_statement_confirmations_statement_id_message_key",
        ),
        sa.CheckConstraint("side IN ('seller', 'agency')", name="ck_statement_confirmations_side"),
    )


def downgrade() -> None:
    """Drop the statement tables (and every confirmation and closed statement in them)."""
    op.drop_table("statement_confirmations")
    op.drop_table("statements")
