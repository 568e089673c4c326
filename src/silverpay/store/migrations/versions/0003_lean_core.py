"""lean core: v3 delivery records; neutral refund status ABNORMAL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from silverpay.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("key"),
    )
    # v2's word CHANGE becomes the neutral ABNORMAL (v3's word for the same state).
    op.execute("UPDATE refunds SET status = 'ABNORMAL' WHERE status = 'CHANGE'")


def downgrade() -> None:
    op.execute("UPDATE refunds SET status = 'CHANGE' WHERE status = 'ABNORMAL'")
    op.drop_table("notification_deliveries")
