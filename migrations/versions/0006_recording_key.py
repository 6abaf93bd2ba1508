"""videos.recording_key: where a recording's files are in the recording storage.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("recording_key", sa.String(64), nullable=True))
        batch.create_index("ix_videos_recording_key", ["recording_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.drop_index("ix_videos_recording_key")
        batch.drop_column("recording_key")
