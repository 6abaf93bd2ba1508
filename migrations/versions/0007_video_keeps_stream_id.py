"""videos.stream_id without a foreign key: a recording's video keeps the id of the stream it
was recorded from after that stream is deleted (the Gcore `Video.stream_id`: "if the video was
saved from a stream, then ID of that stream is saved here"). Ids are never reused (0004), so
the number still names only that stream.

SQLite cannot drop a constraint: batch mode rebuilds the table (its foreign key was created
unnamed, so the naming convention names it for the drop), keeping AUTOINCREMENT.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_FK = "fk_videos_stream_id_streams"
POSTGRES_FK = "videos_stream_id_fkey"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with _sqlite_batch() as batch:
            batch.drop_constraint(SQLITE_FK, type_="foreignkey")
    else:
        op.drop_constraint(POSTGRES_FK, "videos", type_="foreignkey")


def downgrade() -> None:
    op.execute("UPDATE videos SET stream_id = NULL WHERE stream_id NOT IN (SELECT id FROM streams)")
    if op.get_bind().dialect.name == "sqlite":
        with _sqlite_batch() as batch:
            batch.create_foreign_key(SQLITE_FK, "streams", ["stream_id"], ["id"], ondelete="SET NULL")
    else:
        op.create_foreign_key(POSTGRES_FK, "videos", "streams", ["stream_id"], ["id"], ondelete="SET NULL")


def _sqlite_batch():
    return op.batch_alter_table(
        "videos", recreate="always", naming_convention=SQLITE_NAMES, table_kwargs={"sqlite_autoincrement": True}
    )
