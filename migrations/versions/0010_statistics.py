"""viewer_sessions and live_minutes: what the statistics API counts (issue 23).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "viewer_sessions",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(8), nullable=False),
        sa.Column("client_hash", sa.String(32), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("last_seen_at", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
    )
    op.create_index("ix_viewer_sessions_stream_id", "viewer_sessions", ["stream_id"])
    op.create_index("ix_viewer_sessions_last_seen_at", "viewer_sessions", ["last_seen_at"])
    op.create_table(
        "live_minutes",
        sa.Column("minute", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("stream_id", sa.Integer(), primary_key=True, autoincrement=False),
    )


def downgrade() -> None:
    op.drop_table("live_minutes")
    op.drop_index("ix_viewer_sessions_last_seen_at", "viewer_sessions")
    op.drop_index("ix_viewer_sessions_stream_id", "viewer_sessions")
    op.drop_table("viewer_sessions")
