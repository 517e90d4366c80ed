"""A pace escalation can end by itself: status ``resolved``, with when and what ended it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

A pace check that finds an escalated target back on pace ends the escalation (``resolved``)
instead of letting its notices quote a shortfall that no longer exists. ``resolved_at`` is when,
``resolution`` what the check found (JSON). The status check constraint gains the new value,
under the name the models give it; on SQLite that means recreating the table, which batch mode
does (rows and the other constraints are copied over).

Column types are spelled out here rather than imported from ``scheduler.tables``, so that this
migration keeps creating the same schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMP = sa.DateTime(timezone=True)


OLD_CHECK = "ck_escalations_ck_escalations_status"
"""The status check as 0003 named it (the naming convention prefixed its name a second time)."""
CHECK = "ck_escalations_status"
"""The status check as the models name it (``scheduler.tables``)."""


def upgrade() -> None:
    """Add ``resolved_at`` and ``resolution``; allow the status ``resolved``."""
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("resolved_at", STAMP, nullable=True))
        batch.add_column(sa.Column("resolution", sa.Text(), nullable=True))
        _status_check(batch, OLD_CHECK, CHECK, "'open', 'acked', 'resolved'")


def downgrade() -> None:
    """Back to acknowledged-or-open: a resolved escalation reads as acknowledged by nobody."""
    op.execute("UPDATE escalations SET status = 'acked' WHERE status = 'resolved'")
    with op.batch_alter_table("escalations") as batch:
        _status_check(batch, CHECK, OLD_CHECK, "'open', 'acked'")
        batch.drop_column("resolution")
        batch.drop_column("resolved_at")


def _status_check(batch: BatchOperations, old: str, new: str, statuses: str) -> None:
    """Replace the status check constraint ``old`` by ``new`` (``op.f``: names as written,
    not prefixed again by the naming convention). On SQLite batch mode recreates the table,
    carrying the reflected constraints over but ``old``."""
    batch.drop_constraint(op.f(old), type_="check")
    batch.create_check_constraint(op.f(new), f"status IN ({statuses})")
