"""The scheduler: outbox (jobs and messages, missed slots), escalations, enumeration cursors.

Revision ID: 0003
Revises: 0001
Create Date: 2026-01-01

Column types are spelled out here rather than imported from ``scheduler.tables``, so that this
migration keeps creating the same schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)
STATUSES = "'pending', 'claimed', 'sent', 'done', 'missed', 'skipped', 'cancelled', 'failed'"


def upgrade() -> None:
    """Create the scheduler's tables."""
    op.create_table(
        "outbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("slot", sa.String(200), nullable=False),
        sa.Column("chat", sa.String(200), nullable=False),
        sa.Column("due_at", STAMP, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("escalation_id", ID, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("lease_until", STAMP, nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("finished_at", STAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint(
            "deal_id", "kind", "slot", "chat", name="uq_outbox_deal_id_kind_slot_chat"
        ),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_outbox_status"),
    )
    op.create_index("ix_outbox_status_due_at", "outbox", ["status", "due_at"])
    op.create_index("ix_outbox_escalation_id", "outbox", ["escalation_id"])
    op.create_table(
        "escalations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(100), nullable=False),
        sa.Column("open_key", sa.String(200), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("started_at", STAMP, nullable=False),
        sa.Column("acked_by", sa.String(200), nullable=True),
        sa.Column("acked_name", sa.Text(), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("acked_at", STAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_escalations"),
        sa.UniqueConstraint(
            "deal_id", "reason", "origin", name="uq_escalations_deal_id_reason_origin"
        ),
        sa.UniqueConstraint("deal_id", "open_key", name="uq_escalations_deal_id_open_key"),
        sa.CheckConstraint("status IN ('open', 'acked')", name="ck_escalations_status"),
    )
    op.create_table(
        "scheduler_cursors",
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("last_slot", sa.String(100), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("deal_id", "kind", name="pk_scheduler_cursors"),
    )


def downgrade() -> None:
    """Drop the scheduler's tables."""
    op.drop_table("scheduler_cursors")
    op.drop_table("escalations")
    op.drop_index("ix_outbox_escalation_id", table_name="outbox")
    op.drop_index("ix_outbox_status_due_at", table_name="outbox")
    op.drop_table("outbox")
