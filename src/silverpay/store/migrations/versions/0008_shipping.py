"""shipping: shipments per order, the shared access_token, products.auto_ship_virtual

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from silverpay.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("auto_ship_virtual", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "shipments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("logistics_type", sa.Integer(), nullable=False),
        sa.Column("delivery_mode", sa.Integer(), nullable=False),
        sa.Column("is_all_delivered", sa.Boolean(), nullable=True),
        sa.Column("parcels", sa.JSON(), nullable=False),
        sa.Column("upload_time", UTCDateTime(), nullable=False),
        sa.Column("completed_uploads", sa.Integer(), nullable=False),
        sa.Column("reships_used", sa.Integer(), nullable=False),
        sa.Column("outcome_unknown", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("request_key", sa.String(length=128), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("wechat_state", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=False),
        sa.Column("error_message", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("shipped_at", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=True),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("check_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id"),
        # The re-ship rule in the database too: at most one change, at most two completed uploads.
        sa.CheckConstraint("reships_used BETWEEN 0 AND 1", name="ck_shipments_reships_used"),
        sa.CheckConstraint("completed_uploads BETWEEN 0 AND 2", name="ck_shipments_completed_uploads"),
    )
    with op.batch_alter_table("shipments") as batch:
        batch.create_index("ix_shipments_state_next_check", ["state", "next_check_at"])
    op.create_table(
        "wechat_access_tokens",
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=1024), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("fetches", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("appid"),
    )


def downgrade() -> None:
    op.drop_table("wechat_access_tokens")
    op.drop_table("shipments")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("auto_ship_virtual")
