"""TikTok Shop Open API: a deal's linked shop (tokens encrypted) and its synced days.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-02

Column types are spelled out here rather than imported from ``bot.tiktok.store``, so that
this migration keeps creating the same schema whatever the models become.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``tiktok_links`` and ``tiktok_days``."""
    op.create_table(
        "tiktok_links",
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("shop_id", sa.String(100), nullable=False),
        sa.Column("shop_name", sa.Text(), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("cipher", sa.Text(), nullable=False),
        sa.Column("seller_name", sa.Text(), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("access_expires", STAMP, nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("refresh_expires", STAMP, nullable=False),
        sa.Column("linked_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_tiktok_links_deal_id_deals"),
        sa.PrimaryKeyConstraint("deal_id", name="pk_tiktok_links"),
    )
    op.create_table(
        "tiktok_days",
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("synced_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_tiktok_days_deal_id_deals"),
        sa.PrimaryKeyConstraint("deal_id", "day", name="pk_tiktok_days"),
    )


def downgrade() -> None:
    """Drop ``tiktok_days`` and ``tiktok_links``."""
    op.drop_table("tiktok_days")
    op.drop_table("tiktok_links")
