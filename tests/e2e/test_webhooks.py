"""Webhooks from a real node (`server/webhooks/`) to a local receiver: the stages of a real
ffmpeg broadcast in order with valid signatures (and its recording's video made, ready and
deleted), and a node SIGKILLed with events still in its outbox (the receiver down) that loses
none of them once it starts again."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.db.engine import sync_url
from server.db.models import WebhookEvent
from server.webhooks.signing import verify
from tests.e2e.conftest import wait_for
from tests.e2e.test_node_restart import kill_tree
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish
from tests.support.webhook_receiver import Received, ThreadedReceiver

SECRET = "receiver-shared-secret"


def webhook_node(path, receiver: ThreadedReceiver) -> Node:
    return Node(
        path,
        env={
            "HEADWATER_WEBHOOK_URL": receiver.url,
            "HEADWATER_WEBHOOK_SECRET": SECRET,
            "HEADWATER_WEBHOOK_RETRY_FIRST": "0.2",
            "HEADWATER_WEBHOOK_RETRY_CAP": "0.5",
        },
    )


def stream_events(received: list[Received], stream_id: int) -> list[dict]:
    return [
        r.payload["message"]["stream"]
        for r in received
        if r.payload["type"] == "stream" and r.payload["message"]["stream"]["id"] == stream_id
    ]


def stages(events: list[dict]) -> list[tuple[bool, bool, bool]]:
    return [(e["live"], e["transcoding"], e["recording"]) for e in events]


def test_a_broadcast_sends_its_stages_in_order_signed(tmp_path):
    playlists: dict[str, int] = {}
    node: Node | None = None

    def answer(request: Received) -> int:
        """At the output-ready event, the stream's playlists must answer already."""
        stream = request.payload["message"].get("stream")
        if stream and stream["transcoding"] and node is not None and not playlists:
            for path in ("master.m3u8", "origin/index.m3u8"):
                playlists[path] = httpx.get(f"{node.base_url}/live/{stream['id']}/{path}", timeout=5).status_code
        return 200

    receiver = ThreadedReceiver(answer)
    receiver.start()
    node = webhook_node(tmp_path / "node", receiver).start()
    publisher = None
    try:
        with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as http:
            stream = http.post(
                "/streaming/streams",
                json={"name": "hooked", "client_user_id": 42, "client_entity_data": "seat-7"},
            ).json()
            publisher = ffmpeg_publish(stream["push_url"], seconds=8)
            wait_for(
                lambda: [e for e in stream_events(receiver.received, stream["id"]) if e["transcoding"]],
                timeout=30,
                what="the output-ready event",
            )
            # recorded from here (with auto_record, its first segment can come before the master's)
            assert http.put(f"/streaming/streams/{stream['id']}/start_recording").status_code == 200
            publisher.wait(timeout=60)
            wait_for(
                lambda: [e for e in stream_events(receiver.received, stream["id"]) if not e["live"]],
                timeout=40,
                what="the stream's stopped event",
            )
            wait_for(
                lambda: [r for r in receiver.received if r.payload["type"] == "video"
                         and r.payload["message"]["video"]["status"] == "ready"],
                timeout=40,
                what="the recording's ready video",
            )  # fmt: skip
            ready = next(r for r in receiver.received if r.payload["type"] == "video")
            video_id = ready.payload["message"]["video"]["id"]
            assert http.delete(f"/streaming/videos/{video_id}").status_code == 204
            wait_for(
                lambda: [r for r in receiver.received if r.payload["type"] == "video_delete"],
                timeout=20,
                what="the video's delete event",
            )
    finally:
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
        node.stop()
        receiver.close()
    events = stream_events(receiver.received, stream["id"])
    # ingest starts, output ready, recording starts, stopped
    assert stages(events) == [(True, False, False), (True, True, False), (True, True, True), (False, False, False)]
    assert playlists == {"master.m3u8": 200, "origin/index.m3u8": 200}
    assert events[0]["client_user_id"] == 42 and events[0]["client_entity_data"] == "seat-7"
    assert events[0]["stream_source_type"] == "rtmp" and events[0]["pull"] is False
    videos = [r.payload["message"]["video"] for r in receiver.received if r.payload["type"] == "video"]
    assert [v["status"] for v in videos] == ["pending", "ready"]
    assert videos[1]["stream_id"] == stream["id"] and videos[1]["hls_url"]
    deleted = [r.payload["message"]["video"] for r in receiver.received if r.payload["type"] == "video_delete"]
    assert [(v["id"], v["status"]) for v in deleted] == [(video_id, "ready")]
    for request in receiver.received:
        assert verify(SECRET.encode(), request.headers["x-headwater-signature"], request.body, time.time())
    ids = [r.event_id for r in receiver.received]
    assert ids == sorted(set(ids))  # one entity after another here: the outbox's order, no duplicate
    assert SECRET not in node.log()
    assert receiver.url not in node.log()  # a URL may carry a credential
    assert "Traceback" not in node.log()


def outbox_rows(node: Node) -> list[WebhookEvent]:
    engine = create_engine(sync_url(node.database_url))
    try:
        with Session(engine) as db:
            return list(db.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all())
    finally:
        engine.dispose()


def test_a_node_killed_mid_queue_loses_no_event(tmp_path):
    receiver = ThreadedReceiver()  # down until the node has been killed
    node = webhook_node(tmp_path / "node", receiver).start()
    publisher = None
    try:
        with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as http:
            stream = http.post("/streaming/streams", json={"name": "killed"}).json()
            publisher = ffmpeg_publish(stream["push_url"], seconds=60)
            wait_for(lambda: len(outbox_rows(node)) >= 2, timeout=40, what="live and output-ready events queued")
            assert all(row.attempts >= 0 and not row.dead for row in outbox_rows(node))
            kill_tree(node.process.pid)  # while live: the last run cannot say the stream stopped
            node.process.wait()
            publisher.kill()
            publisher.wait()
            receiver.start()
            node.start()
            wait_for(
                lambda: [e for e in stream_events(receiver.received, stream["id"]) if not e["live"]],
                timeout=40,
                what="the stopped event the restarted node owes",
            )
            wait_for(lambda: not outbox_rows(node), timeout=20, what="an empty outbox")
    finally:
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
        node.stop()
        receiver.close()
    assert stages(stream_events(receiver.received, stream["id"])) == [
        (True, False, False),
        (True, True, False),
        (False, False, False),
    ]
