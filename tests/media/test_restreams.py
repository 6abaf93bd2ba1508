"""The node's side of restreams on a real database: what a stream's workers are told as the
rows change, and `live` as the workers' events say, a late event of a replaced start ignored.
A stand-in takes what the node sends a worker (what is asked of a worker is all it does)."""

from __future__ import annotations

import asyncio

import pytest

from server.db.engine import create_engine_for, db_session_factory
from server.db.migrate import upgrade
from server.db.models import Restream, Stream
from server.db.restreams import RestreamRepository
from server.media.restreams import Restreams
from transcode.contract import RestreamLive, RestreamStopped, StartRestream, StopRestream


class Worker:
    def __init__(self) -> None:
        self.sent: list = []

    def send(self, *commands) -> bool:
        self.sent += commands
        return True


@pytest.fixture
async def node(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine_for(url)
    sessions = db_session_factory(engine)
    async with sessions() as db:
        db.add(Stream(id=1, name="show", token="t"))
        await db.flush()
        db.add_all(
            [
                Restream(id=1, name="a", stream_id=1, uri="rtmp://a/app/k", live=True),  # left by a crash
                Restream(id=2, name="b", stream_id=1, uri="srt://b:9000", active=False),
            ]
        )
        await db.commit()
    restreams = Restreams(sessions)
    await restreams.start()
    yield restreams, sessions
    await restreams.close()
    await engine.dispose()


async def live_rows(sessions) -> dict[int, bool]:
    await asyncio.sleep(0.05)  # the writer's turn
    async with sessions() as db:
        return {r.id: r.live for r in await RestreamRepository(db).every()}


async def test_workers_follow_the_rows_and_live_follows_the_events(node):
    restreams, sessions = node
    assert await live_rows(sessions) == {1: False, 2: False}  # nothing forwards on a node that starts
    worker = Worker()
    [first] = restreams.commands(1, worker)
    assert isinstance(first, StartRestream) and (first.restream_id, first.uri) == (1, "rtmp://a/app/k")

    restreams.reported(RestreamLive(restream_id=1, session=first.session))
    assert await live_rows(sessions) == {1: True, 2: False}

    async with sessions() as db:  # the API: a new uri for 1, 2 activated
        one, two = await RestreamRepository(db).every()
        one.uri, two.active = "rtmp://a/app/other", True
        await db.commit()
    await restreams.changed(1)
    stop, again, second = worker.sent
    assert stop == StopRestream(restream_id=1)
    assert (again.restream_id, again.uri, second.restream_id) == (1, "rtmp://a/app/other", 2)
    restreams.reported(RestreamLive(restream_id=1, session=first.session))  # late, of the replaced start
    assert await live_rows(sessions) == {1: False, 2: False}  # until the new connection says so

    restreams.reported(RestreamLive(restream_id=1, session=again.session))
    restreams.reported(RestreamLive(restream_id=2, session=second.session))
    restreams.reported(RestreamStopped(restream_id=2, session=second.session, message="connection reset"))
    assert await live_rows(sessions) == {1: True, 2: False}

    async with sessions() as db:  # the API: 1 deleted
        await RestreamRepository(db).delete(await RestreamRepository(db).require(1))
    await restreams.changed(1)
    assert worker.sent[-1] == StopRestream(restream_id=1)
    restreams.reported(RestreamLive(restream_id=2, session=second.session))
    restreams.worker_exited(worker)
    assert await live_rows(sessions) == {2: False}

    assert [c.restream_id for c in restreams.commands(1, Worker())] == [2]  # the stream's next worker
