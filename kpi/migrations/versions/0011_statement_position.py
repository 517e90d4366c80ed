"""Closed statements remember where the ledger stood and which figures were still open.

Revision ID: 0011
Revises: 0002
Create Date: 2026-12-02

``last_entry_id`` and ``last_verdict_id`` are the deal's highest entry and verdict ids when the
statement's figures were read: anything written later is a late change, whatever time its
platform stamped on it. ``open_figures`` lists the figures that were pending or disputed when
an admin closed the period anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = ("0002", "0003")  # merges the two first heads
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add the ledger position and the open figures to closed statements."""
    with op.batch_alter_table("statements") as batch:
        batch.add_column(sa.Column("last_entry_id", ID, nullable=True))
        batch.add_column(sa.Column("last_verdict_id", ID, nullable=True))
        batch.add_column(sa.Column("open_figures", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("statements") as batch:
        batch.drop_column("open_figures")
        batch.drop_column("last_verdict_id")
        batch.drop_column("last_entry_id")
