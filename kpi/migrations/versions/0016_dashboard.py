"""The dashboard: revocation of a deal's links.

Revision ID: 0016
Revises: 0001
Create Date: 2026-12-02

Column types are spelled out here rather than imported from ``bot.dashboard.links``, so that
this migration keeps creating the same schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``dashboard_revocations``."""
    op.create_table(
        "dashboard_revocations",
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name="fk_dashboard_revocations_deal_id_deals"
        ),
        sa.PrimaryKeyConstraint("deal_id", name="pk_dashboard_revocations"),
    )


def downgrade() -> None:
    """Drop ``dashboard_revocations``."""
    op.drop_table("dashboard_revocations")
