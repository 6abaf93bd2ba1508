"""The embedded SQLite database: WAL with synchronous=NORMAL (no device flush per commit:
the node commits stream status while the workers write media to the same disk), and
foreign keys on."""

from __future__ import annotations

from sqlalchemy import text

from server.db.engine import create_engine_for


async def test_every_connection_uses_wal_without_a_flush_per_commit(tmp_path):
    engine = create_engine_for(f"sqlite:///{tmp_path / 'headwater.db'}")
    try:
        async with engine.connect() as connection:
            assert (await connection.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await connection.scalar(text("PRAGMA synchronous"))) == 1  # NORMAL
            assert (await connection.scalar(text("PRAGMA foreign_keys"))) == 1
    finally:
        await engine.dispose()
