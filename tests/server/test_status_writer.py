"""StatusWriter: its stats throttle (what reaches the DB queue, without a DB), and its writes kept
through a database outage (on SQLite behind a session factory that refuses, then works)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from server.db.engine import create_engine_for, db_session_factory
from server.db.migrate import upgrade
from server.db.models import Stream
from server.media import status
from server.media.status import STATS_EVERY, StatusWriter
from transcode.contract import Started, Stats


class RecordingWriter(StatusWriter):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(db_sessions=None, clock=lambda: self.now)
        self.written: list[dict] = []

    def set(self, stream_id: int, **values) -> None:
        self.written.append(values)


def stats(speed: float, frame_rate: float = 30.0, width: int = 1920) -> Stats:
    return Stats(speed=speed, frame_rate=frame_rate, width=width, height=1080)


def test_stats_are_written_when_they_move_or_every_few_seconds():
    writer = RecordingWriter()
    writer.stats(1, stats(1.0))
    writer.now = 1.0
    writer.stats(1, stats(1.01, 29.9))  # jitter: not written
    writer.now = 2.0
    writer.stats(1, stats(0.8))  # the stream slowed down
    writer.now = 3.0
    writer.stats(1, stats(0.8, width=1280))  # new size
    writer.now = 3.0 + STATS_EVERY
    writer.stats(1, stats(0.81, width=1280))  # nothing new, but due
    assert [(w["transcoding_speed"], w["video_width"]) for w in writer.written] == [
        (1.0, 1920),
        (0.8, 1920),
        (0.8, 1280),
        (0.81, 1280),
    ]


def test_a_new_publication_writes_its_first_stats_at_once():
    writer = RecordingWriter()
    writer.stats(1, stats(1.0))
    writer.went_offline(1)
    writer.went_live(1, "rtmp", Started(renditions=["origin"]))
    writer.now = 0.5
    writer.stats(1, stats(1.0))
    assert [w.get("transcoding_speed") for w in writer.written] == [1.0, None, None, 1.0]
    writer.stats(2, stats(1.0))  # streams are throttled apart
    assert len(writer.written) == 5


class AwayDatabase:
    """A session factory whose database is away (connection refused) until `back()`."""

    def __init__(self, sessions) -> None:
        self.sessions = sessions
        self.away = True
        self.tries = 0
        self.retried = asyncio.Event()  # tried three times

    def __call__(self):
        self.tries += 1
        if self.tries >= 3:
            self.retried.set()
        if self.away:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        return self.sessions()

    def back(self) -> None:
        self.away = False


async def test_status_written_while_the_database_is_away_is_written_once_it_is_back(tmp_path, monkeypatch):
    monkeypatch.setattr(status, "STATUS_RETRY_FIRST", 0.01)
    monkeypatch.setattr(status, "STATUS_RETRY_MAX", 0.02)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine_for(url)
    sessions = db_session_factory(engine)
    async with sessions() as db:
        db.add(Stream(id=1, name="a", token="t", live=True))
        db.add(Stream(id=2, name="b", token="t"))
        await db.commit()
    database = AwayDatabase(sessions)
    writer = StatusWriter(database)
    writer.start()
    try:
        writer.went_offline(1)
        writer.set(2, transcoding_speed=0.5)
        await asyncio.wait_for(database.retried.wait(), 5)  # kept and tried again
        writer.set(2, transcoding_speed=0.9)  # newer than the batch that failed
        database.back()
        await asyncio.wait_for(writer.flush(), 5)
        async with sessions() as db:
            rows = {s.id: s for s in (await db.execute(select(Stream))).scalars()}
        assert rows[1].live is False and rows[1].finished_at_primary is not None
        assert rows[2].transcoding_speed == 0.9
    finally:
        await writer.close()
        await engine.dispose()
