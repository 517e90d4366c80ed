"""A pace escalation can end by itself: status ``resolved``, with when and what ended it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

A pace check that finds an escalated target back on pace ends the escalation (``resolved``)
instead of letting its notices quote a shortfall that no longer exists. ``resolved_at`` is when,
``resolution`` what the check found (JSON). The status check constraint gains the new value;
on SQLite that means recreating the table, which batch mode does (rows and the other
constraints are copied over).

Column types are spelled out here rather than imported from ``scheduler.tables``, so that this
migration keeps creating the same schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add ``resolved_at`` and ``resolution``; allow the status ``resolved``."""
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("resolved_at", STAMP, nullable=True))
        batch.add_column(sa.Column("resolution", sa.Text(), nullable=True))
        batch.drop_constraint("ck_escalations_status", type_="check")
        # op.f: the name as written (the naming convention would prefix it again).
        batch.create_check_constraint(
            op.f("ck_escalations_status"), "status IN ('open', 'acked', 'resolved')"
        )


def downgrade() -> None:
    """Back to acknowledged-or-open: a resolved escalation reads as acknowledged by nobody."""
    op.execute("UPDATE escalations SET status = 'acked' WHERE status = 'resolved'")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_constraint("ck_escalations_status", type_="check")
        batch.create_check_constraint(op.f("ck_escalations_status"), "status IN ('open', 'acked')")
        batch.drop_column("resolution")
        batch.drop_column("resolved_at")
