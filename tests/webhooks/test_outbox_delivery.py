"""The webhooks' outbox and delivery task on a real database (SQLite and PostgreSQL) against a
real local HTTP receiver: stream stages written with their status, signatures, order per
entity, a receiver down then up, a dead event, nothing written without a URL."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from sqlalchemy import select

from server.db.engine import create_engine_for, db_session_factory
from server.db.migrate import upgrade
from server.db.models import Restream, Stream, Video, WebhookEvent
from server.db.restreams import RestreamRepository
from server.db.streams import StreamRepository
from server.db.videos import VideoRepository
from server.db.webhook_events import WebhookEventRepository
from server.media.status import StatusWriter
from server.settings import Settings
from server.webhooks.delivery import WebhookDelivery
from server.webhooks.outbox import Outbox
from server.webhooks.signing import verify
from tests.support.webhook_receiver import Received, WebhookReceiver
from transcode.contract import Started, Stats

SECRET = "s3cret-for-tests"
BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
async def db_sessions(database_url):
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine_for(database_url)
    sessions = db_session_factory(engine)
    async with sessions() as db:
        db.add_all([Stream(id=n, name=f"s{n}", token="t", client_user_id=n * 10) for n in (1, 2, 3)])
        await db.commit()
    yield sessions
    await engine.dispose()


def settings_for(tmp_path, receiver: WebhookReceiver | None, **overrides) -> Settings:
    return Settings(
        data_dir=tmp_path,
        webhook_url=receiver.url if receiver else None,
        webhook_secret=SECRET,
        webhook_retry_first=0.05,
        webhook_retry_cap=0.2,
        **overrides,
    )


async def until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def pending(db_sessions) -> int:
    async with db_sessions() as db:
        return await WebhookEventRepository(db).pending()


def stream_stages(received: list[Received], stream_id: int) -> list[tuple[bool, bool, bool, bool]]:
    stages = []
    for request in received:
        payload = request.payload
        if payload["type"] == "stream" and payload["message"]["stream"]["id"] == stream_id:
            s = payload["message"]["stream"]
            stages.append((s["live"], s["backup_live"], s["transcoding"], s["recording"]))
    return stages


async def a_broadcast(writer: StatusWriter, stream_id: int) -> None:
    """Every stage of a stream, each set the moment the node learns it (one batch: the writer
    must not merge them)."""
    writer.went_live(stream_id, "rtmp", Started(renditions=["origin"]))
    writer.output_ready(stream_id)
    writer.set(stream_id, recording_video_id=7)
    writer.stats(stream_id, Stats(speed=1.0))
    writer.went_offline(stream_id)
    writer.set(stream_id, recording_video_id=None)  # the recording finalized: no stage change once stopped
    await writer.flush()


STAGES = [
    (True, False, False, False),  # ingest starts
    (True, False, True, False),  # output ready
    (True, False, True, True),  # recording starts
    (False, False, False, False),  # stopped
]


@BOTH
async def test_stream_stages_arrive_in_order_signed(db_sessions, tmp_path):
    receiver = WebhookReceiver()
    await receiver.start()
    settings = settings_for(tmp_path, receiver)
    outbox = Outbox(settings)
    writer = StatusWriter(db_sessions, outbox=outbox)
    writer.start()
    delivery = WebhookDelivery(settings, db_sessions, outbox)
    delivery.start()
    try:
        await a_broadcast(writer, 1)
        await until(lambda: _true(len(receiver.received) >= 4))
        await until(lambda: _zero(db_sessions))
    finally:
        await delivery.close()
        await writer.close()
        await receiver.stop()
    assert stream_stages(receiver.received, 1) == STAGES
    first = receiver.received[0]
    assert first.payload["message"]["stream"] == {
        "id": 1,
        "live": True,
        "backup_live": False,
        "recording": False,
        "transcoding": False,
        "client_user_id": 10,
        "client_entity_data": None,
        "pull": False,
        "uri": None,
        "stream_source_type": "rtmp",
    }
    ids = [request.event_id for request in receiver.received]
    assert ids == sorted(ids) and len(set(ids)) == 4
    for request in receiver.received:
        assert verify(SECRET.encode(), request.headers["x-headwater-signature"], request.body, time.time())
        assert not verify(b"wrong", request.headers["x-headwater-signature"], request.body, time.time())
        assert request.headers["x-headwater-event-type"] == "stream"


@BOTH
async def test_a_receiver_down_then_up_gets_every_event_in_order(db_sessions, tmp_path):
    receiver = WebhookReceiver()  # down: nothing listens on its port yet
    settings = settings_for(tmp_path, receiver)
    outbox = Outbox(settings)
    writer = StatusWriter(db_sessions, outbox=outbox)
    writer.start()
    delivery = WebhookDelivery(settings, db_sessions, outbox)
    delivery.start()
    try:
        for stream_id in (1, 2, 3):
            await a_broadcast(writer, stream_id)
            await a_broadcast(writer, stream_id)

        async def retried() -> bool:  # every stream's head has failed and backed off a few times
            async with db_sessions() as db:
                heads = (await db.scalars(select(WebhookEvent).where(WebhookEvent.attempts >= 3))).all()
            return len({row.entity for row in heads}) == 3

        await until(retried)
        assert receiver.received == []
        await receiver.start()
        await until(lambda: _zero(db_sessions))
    finally:
        await delivery.close()
        await writer.close()
        await receiver.stop()
    for stream_id in (1, 2, 3):
        assert stream_stages(receiver.received, stream_id) == STAGES * 2
    assert len(receiver.received) == 24


@BOTH
async def test_a_failing_entity_blocks_only_itself_and_is_given_up_after_its_time(db_sessions, tmp_path, caplog):
    def answer(request: Received) -> int:
        return 500 if request.payload["message"]["stream"]["id"] == 2 else 200

    receiver = WebhookReceiver(answer=answer)
    await receiver.start()
    settings = settings_for(tmp_path, receiver, webhook_give_up_after=1.0)
    outbox = Outbox(settings)
    writer = StatusWriter(db_sessions, outbox=outbox)
    writer.start()
    delivery = WebhookDelivery(settings, db_sessions, outbox)
    delivery.start()
    try:
        with caplog.at_level(logging.WARNING, "headwater.webhooks"):
            await a_broadcast(writer, 2)
            await a_broadcast(writer, 1)
            await until(lambda: _true(len(stream_stages(receiver.received, 1)) == 4))
            assert stream_stages(receiver.received, 2) == []  # stream 2's later events wait behind its first

            async def all_dead() -> bool:
                async with db_sessions() as db:
                    return (
                        len(await WebhookEventRepository(db).dead()) == 4
                        and await WebhookEventRepository(db).pending() == 0
                    )

            await until(all_dead)
    finally:
        await delivery.close()
        await writer.close()
        await receiver.stop()
    async with db_sessions() as db:
        dead = sorted(await WebhookEventRepository(db).dead(), key=lambda row: row.id)
    assert [row.entity for row in dead] == ["stream:2"] * 4
    assert all(row.last_error == "HTTP 500" for row in dead)
    gave_up = [r for r in caplog.records if "giving up" in r.getMessage()]
    assert len(gave_up) == 4  # once per event
    assert SECRET not in caplog.text


@BOTH
async def test_video_status_and_delete_events(db_sessions, tmp_path):
    from server.db.recordings import RecordingRepository

    settings = settings_for(tmp_path, WebhookReceiver())
    outbox = Outbox(settings)
    async with db_sessions() as db:
        video = await RecordingRepository(db).add_video(
            Video(name="v", stream_id=1, status="pending", recording_key="k1"), outbox
        )
        await RecordingRepository(db).set_video("k1", outbox, status="ready", duration=4000)
    async with db_sessions() as db:
        videos = VideoRepository(db)
        await videos.delete(await videos.require(video.id), outbox)
    async with db_sessions() as db:
        rows = (await db.scalars(select(WebhookEvent).order_by(WebhookEvent.id))).all()
    bodies = [json.loads(row.body) for row in rows]
    assert [(b["type"], b["message"]["video"]["status"]) for b in bodies] == [
        ("video", "pending"),
        ("video", "ready"),
        ("video_delete", "ready"),
    ]
    assert {row.entity for row in rows} == {f"video:{video.id}"}
    assert bodies[1]["message"]["video"]["duration"] == 4000
    assert bodies[1]["message"]["video"]["hls_url"].endswith("_k1/master.m3u8")
    assert bodies[1]["message"]["video"]["id"] == video.id


async def test_a_restream_going_live_and_off_is_a_restream_event_written_with_its_flag(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine_for(url)
    sessions = db_session_factory(engine)
    outbox = Outbox(settings_for(tmp_path, WebhookReceiver()))
    async with sessions() as db:
        stream = Stream(name="s", token="t" * 32)
        db.add(stream)
        await db.flush()
        restream = Restream(name="yt", stream_id=stream.id, uri="rtmp://yt.example/live/key")
        db.add(restream)
        await db.commit()
        restream_id = restream.id
    async with sessions() as db:
        await RestreamRepository(db).set_live({restream_id: True}, outbox)
    async with sessions() as db:
        await RestreamRepository(db).set_live({restream_id: False}, outbox)
    async with sessions() as db:
        rows = (await db.scalars(select(WebhookEvent).order_by(WebhookEvent.id))).all()
    assert [(row.entity, row.type) for row in rows] == [(f"restream:{restream_id}", "restream")] * 2
    messages = [json.loads(row.body)["message"]["restream"] for row in rows]
    assert [(m["id"], m["name"], m["stream_id"], m["live"]) for m in messages] == [
        (restream_id, "yt", 1, True),
        (restream_id, "yt", 1, False),
    ]
    await engine.dispose()


async def test_no_url_writes_nothing_and_a_rolled_back_change_has_no_event(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine_for(url)
    sessions = db_session_factory(engine)
    async with sessions() as db:
        db.add(Stream(id=1, name="s", token="t"))
        await db.commit()
    async with sessions() as db:
        await StreamRepository(db).set_status({1: {"live": True}}, Outbox(Settings(data_dir=tmp_path)))
        assert await WebhookEventRepository(db).pending() == 0
    outbox = Outbox(settings_for(tmp_path, WebhookReceiver()))
    async with sessions() as db:
        stream = await db.get(Stream, 1)
        before = outbox.stage_of(stream)
        stream.live = False
        outbox.stream_changed(db, before, stream)
        await db.rollback()
    async with sessions() as db:
        assert await WebhookEventRepository(db).pending() == 0
    await engine.dispose()


async def _true(value: bool) -> bool:
    return value


async def _zero(db_sessions) -> bool:
    return await pending(db_sessions) == 0
