"""restreams: the targets a live stream's origin is forwarded to (Gcore's `Restream`).

A restream goes with its stream (ON DELETE CASCADE); ids are never reused (SQLite
AUTOINCREMENT, as 0004 made them for the other tables).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restreams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("stream_id", sa.Integer(), sa.ForeignKey("streams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("no_audio", sa.Boolean(), nullable=False),
        sa.Column("no_audio_mode", sa.String(8), nullable=False),
        sa.Column("client_user_id", sa.BigInteger(), nullable=True),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_restreams_stream_id", "restreams", ["stream_id"])


def downgrade() -> None:
    op.drop_index("ix_restreams_stream_id", "restreams")
    op.drop_table("restreams")
