"""SQLite: streams, videos and overlays hand out an id only once (AUTOINCREMENT).

Without it SQLite gives the next row max(id) + 1, so deleting the newest stream handed its id
— and with it its push, playlist and segment URLs, which caches hold as immutable — to the
next stream created. PostgreSQL's sequences never reuse an id: nothing to do there.

SQLite cannot add AUTOINCREMENT to a table: batch mode rebuilds each one (copy, drop, rename;
`migrations/env.py` turns foreign keys off meanwhile, or the drop would fire ON DELETE).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("streams", "videos", "overlays")


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)


def _rebuild(*, autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass
