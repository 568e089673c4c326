"""payment attempts; refunds name the payment they return, and may be surplus

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from silverpay.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_attempts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("close_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("check_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("out_trade_no"),
    )
    with op.batch_alter_table("payment_attempts") as batch:
        batch.create_index("ix_payment_attempts_order_id", ["order_id"])
        batch.create_index("ix_payment_attempts_close_at", ["close_at"])
    # Every order so far had one attempt: its own number.
    op.execute("INSERT INTO payment_attempts (order_id, out_trade_no, created_at, check_attempts) "
               "SELECT id, out_trade_no, created_at, 0 FROM orders")  # fmt: skip
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("out_trade_no", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("surplus", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE refunds SET out_trade_no = (SELECT o.out_trade_no FROM orders o WHERE o.id = refunds.order_id)")
    with op.batch_alter_table("refunds") as batch:
        batch.alter_column("out_trade_no", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("surplus")
        batch.drop_column("out_trade_no")
    op.drop_table("payment_attempts")
