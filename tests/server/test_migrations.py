"""Alembic upgrade and downgrade run clean on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from server.db.engine import sync_url
from server.db.migrate import downgrade, upgrade
from server.db.models import Overlay, Stream, Video

TABLES = {
    "streams",
    "overlays",
    "quality_sets",
    "qualities",
    "videos",
    "node_settings",
    "viewer_sessions",
    "live_minutes",
    "webhook_events",
    "restreams",
    "nodes",
    "leases",
}


def tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_upgrade_downgrade_upgrade(database_url):
    upgrade(database_url)
    assert tables(database_url) == TABLES
    engine = create_engine(sync_url(database_url))
    with engine.begin() as connection:
        assert connection.scalar(text("select count(*) from quality_sets")) == 5
        connection.execute(text("insert into quality_sets (name, kind, is_default) values ('mine', 'live', false)"))
        assert connection.scalar(text("select max(id) from quality_sets")) == 6
    engine.dispose()
    downgrade(database_url)
    assert tables(database_url) == set()
    upgrade(database_url)
    assert tables(database_url) == TABLES


def test_sqlite_ids_stop_being_reused_and_the_rebuild_keeps_every_row(tmp_path):
    """0004 rebuilds streams, videos and overlays on SQLite: their rows, and the rows pointing
    at them (ON DELETE CASCADE / SET NULL must not fire), survive, and the newest id deleted is
    never handed out again."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url, "0003")
    engine = create_engine(url)
    with engine.begin() as connection:  # Core inserts name only the columns given or defaulted,
        # so columns added after 0003 (e.g. 0005's) are left out
        connection.execute(
            Stream.__table__.insert(), [{"name": "older", "token": "a"}, {"name": "newest", "token": "b"}]
        )
        connection.execute(Overlay.__table__.insert(), {"stream_id": 2, "url": "https://overlay"})
        connection.execute(Video.__table__.insert(), {"name": "recording", "stream_id": 2})
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    with Session(engine) as db, db.begin():
        assert db.scalars(select(Overlay.stream_id)).all() == [2]
        assert db.scalars(select(Video.stream_id)).all() == [2]
        db.delete(db.get(Stream, 2))
    with Session(engine) as db, db.begin():
        db.add(Stream(name="next", token="c"))
        db.flush()
        assert db.scalars(select(Stream.id)).all() == [1, 3]
    engine.dispose()


def test_nodes_upgrading_one_postgresql_together_take_turns(postgres_server):
    """Nodes sharing a database all upgrade it at start (`headwater serve`); at the same
    moment, the first migrates and the others then find it at head (migrations/env.py's
    advisory lock), instead of creating the same tables twice. Processes, as nodes are
    (Alembic's context is one per process)."""
    url = postgres_server.create_database()
    script = (  # imported first, then all upgrade at one instant (a start, not a time assertion)
        "import sys, time; from server.db.migrate import upgrade; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); upgrade(sys.argv[1])"
    )
    at = str(time.time() + 5)
    nodes = [subprocess.Popen([sys.executable, "-c", script, url, at], stderr=subprocess.PIPE) for _ in range(4)]
    failures = [node.communicate(timeout=120)[1].decode()[-600:] for node in nodes]
    assert [node.returncode for node in nodes] == [0] * 4, failures
    assert tables(url) == TABLES
