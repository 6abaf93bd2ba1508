"""SessionFlush against real databases: rows written once and moved on, live minutes marked
once, nothing lost when a write fails."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.db.engine import create_engine_for, db_session_factory, sync_url
from server.db.migrate import upgrade
from server.db.models import LiveMinute, Stream, ViewerSessionRow
from server.metrics.session_flush import SessionFlush
from server.metrics.stream_meter import StreamMeters

FOLLOWER = ("origin/index.m3u8", "10.0.0.9", b"Player/1.0")


def rows(url: str, model) -> list:
    engine = create_engine(sync_url(url))
    try:
        with Session(engine) as db:
            return list(db.scalars(select(model)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_a_session_is_one_row_moved_on_and_live_minutes_are_marked_once(database_url):
    upgrade(database_url)
    engine = create_engine_for(database_url)
    meters = StreamMeters(keep_changed=True)
    live = [False]
    flush = SessionFlush(meters, db_session_factory(engine), 5.0, live_here=lambda: live[0])
    try:
        meters.of(3).followers.add(FOLLOWER)
        meters.hand_over(1000.0)
        await flush.flush()
        meters.of(3).followers.add(FOLLOWER)
        meters.hand_over(1004.0)
        await flush.flush()
        [row] = rows(database_url, ViewerSessionRow)
        assert (row.stream_id, row.protocol, row.started_at, row.last_seen_at, row.seconds) == (
            3,
            "llhls",
            1000.0,
            1004.0,
            4.0,
        )
        assert len(row.client_hash) == 32 and "10.0.0.9" not in row.client_hash

        async with db_session_factory(engine)() as db:
            db.add_all([Stream(name="on air", token="t", live=True), Stream(name="off", token="u")])
            await db.commit()
        live[0] = True
        await flush.flush()
        await flush.flush()  # the same minute again: the row is there already
        marked = rows(database_url, LiveMinute)
        assert [(m.minute % 60, m.stream_id) for m in marked] == [(0, 1)]
    finally:
        await engine.dispose()


async def test_sessions_a_write_could_not_store_are_written_by_the_next(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = create_engine_for(url)
    meters = StreamMeters(keep_changed=True)
    working = db_session_factory(engine)

    @contextlib.asynccontextmanager
    async def database_away():
        raise ConnectionError("database away")
        yield

    flush = SessionFlush(meters, database_away, 5.0, live_here=lambda: False)  # type: ignore[arg-type]
    try:
        meters.of(1).followers.add(FOLLOWER)
        meters.hand_over(50.0)
        await flush.flush()
        assert rows(url, ViewerSessionRow) == []
        flush.db_sessions = working
        await flush.flush()
        [row] = rows(url, ViewerSessionRow)
        assert row.started_at == 50.0
    finally:
        await engine.dispose()
