"""webhook_events, the webhooks' outbox (each row written in the transaction of the state change
it reports), and streams.output_ready (Gcore's "transcoding" stage: the master playlist answers).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float(), nullable=True),
        sa.Column("dead", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("last_error", sa.Text(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_events_entity", "webhook_events", ["entity"])
    # a plain ADD COLUMN on both (batch mode would rebuild SQLite's table without AUTOINCREMENT)
    op.add_column("streams", sa.Column("output_ready", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("streams", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("output_ready")
    op.drop_index("ix_webhook_events_entity", "webhook_events")
    op.drop_table("webhook_events")
