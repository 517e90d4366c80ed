"""The platform source: imported Seller Center files, their rows, and each row key's head.

Revision ID: 0015
Revises: 0001
Create Date: 2026-12-02

As in 0001, the column types are spelled out here rather than imported from
``kpi.platform.tables``, so that this migration keeps creating the same schema.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create platform_imports, platform_rows and platform_heads."""
    op.create_table(
        "platform_imports",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("person_name", sa.Text(), nullable=False),
        sa.Column("chat", sa.String(200), nullable=False),
        sa.Column("imported_at", STAMP, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name="fk_platform_imports_deal_id_deals"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_platform_imports"),
    )
    op.create_index(
        "ix_platform_imports_deal_id_imported_at", "platform_imports", ["deal_id", "imported_at"]
    )
    op.create_table(
        "platform_rows",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("row_key", sa.String(300), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", STAMP, nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("import_id", ID, nullable=False),
        sa.Column("source_row", sa.Integer(), nullable=False),
        sa.Column("supersedes", ID, nullable=True),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_platform_rows_deal_id_deals"),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["platform_imports.id"],
            name="fk_platform_rows_import_id_platform_imports",
        ),
        sa.ForeignKeyConstraint(
            ["supersedes"], ["platform_rows.id"], name="fk_platform_rows_supersedes_platform_rows"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_platform_rows"),
        sa.UniqueConstraint("supersedes", name="uq_platform_rows_supersedes"),
    )
    op.create_table(
        "platform_heads",
        sa.Column("deal_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("row_key", sa.String(300), nullable=False),
        sa.Column("row_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_platform_heads_deal_id_deals"),
        sa.ForeignKeyConstraint(
            ["row_id"], ["platform_rows.id"], name="fk_platform_heads_row_id_platform_rows"
        ),
        sa.PrimaryKeyConstraint("deal_id", "kind", "row_key", name="pk_platform_heads"),
    )
    op.create_index("ix_platform_heads_deal_id_day", "platform_heads", ["deal_id", "day"])


def downgrade() -> None:
    """Drop the platform tables."""
    op.drop_index("ix_platform_heads_deal_id_day", table_name="platform_heads")
    op.drop_table("platform_heads")
    op.drop_table("platform_rows")
    op.drop_index("ix_platform_imports_deal_id_imported_at", table_name="platform_imports")
    op.drop_table("platform_imports")
