"""Restreams through the Gcore SDK: CRUD, paging, and a 422 naming the field for a bad body."""

from __future__ import annotations

import gcore
import pytest
from gcore import Gcore


@pytest.fixture
def stream_id(client: Gcore) -> int:
    return client.streaming.streams.create(name="restreamed").id


def test_create_list_get_update_delete(client: Gcore, http, stream_id):
    restreams = client.streaming.restreams
    created = restreams.create(
        restream={
            "name": "YouTube",
            "stream_id": stream_id,
            "uri": "rtmp://a.rtmp.youtube.com/live2/abcd-efgh",
            "client_user_id": 42,
            "live": True,  # the node's to say: ignored
        }
    )
    assert (created.name, created.stream_id, created.uri) == (
        "YouTube",
        stream_id,
        "rtmp://a.rtmp.youtube.com/live2/abcd-efgh",
    )
    assert (created.active, created.live, created.no_audio, created.no_audio_mode) == (True, False, False, "drop")
    assert (created.client_user_id, created.source) == (42, "original")

    srt = restreams.create(
        restream={
            "stream_id": stream_id,
            "uri": "srt://ingest.example:9000?passphrase=0123456789ab",
            "no_audio": True,
            "no_audio_mode": "silence",
            "active": False,
        }
    )
    assert srt.name == "srt://ingest.example:9000"  # a default name without the secrets
    assert (srt.no_audio, srt.no_audio_mode, srt.active) == (True, "silence", False)

    assert restreams.get(created.id).uri == created.uri
    listed = restreams.list()
    assert [r.id for r in listed.items][:2] == [srt.id, created.id]  # newest first
    page = http.get("/streaming/restreams", params={"page": 1, "per_page": 1})
    assert [r["id"] for r in page.json()] == [srt.id] and int(page.headers["X-Total-Count"]) >= 2

    changed = restreams.update(
        created.id,
        restream={
            "active": False,
            "no_audio": True,
            "no_audio_mode": "silence",
            "uri": "rtmps://live.example:443/app/key",
        },
    )
    assert (changed.active, changed.no_audio, changed.no_audio_mode) == (False, True, "silence")
    assert changed.uri == "rtmps://live.example:443/app/key" and changed.name == "YouTube"

    restreams.delete(created.id)
    with pytest.raises(gcore.NotFoundError):
        restreams.get(created.id)


def test_a_deleted_stream_takes_its_restreams(client: Gcore, stream_id):
    restream = client.streaming.restreams.create(restream={"stream_id": stream_id, "uri": "rtmp://h/app/key"})
    client.streaming.streams.delete(stream_id)
    with pytest.raises(gcore.NotFoundError):
        client.streaming.restreams.get(restream.id)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"uri": "http://example.com/live/key"}, "restream.uri"),
        ({"uri": "rtmp://example.com/live"}, "restream.uri"),  # no stream key
        ({"uri": "rtmp:///live/key"}, "restream.uri"),  # no host
        ({"uri": "srt://example.com"}, "restream.uri"),  # no port
        ({"uri": "srt://example.com:9000?mode=listener"}, "restream.uri"),  # only caller
        ({"uri": None}, "restream.uri"),
        ({"stream_id": None}, "restream.stream_id"),
        ({"stream_id": 999999}, "restream.stream_id"),  # no such stream
        ({"no_audio": "yes"}, "restream.no_audio"),  # strict booleans only
        ({"no_audio_mode": "mute"}, "restream.no_audio_mode"),
        ({"source": "transcoded"}, "restream.source"),
        ({"name": ""}, "restream.name"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(http, stream_id, fields, field):
    body = {"stream_id": stream_id, "uri": "rtmp://example.com/live/key", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    answer = http.post("/streaming/restreams", json={"restream": body})
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["errors"], answer.json()


def test_an_update_is_checked_too(client: Gcore, http, stream_id):
    restream = client.streaming.restreams.create(restream={"stream_id": stream_id, "uri": "rtmp://h/app/key"})
    for fields, field in (({"uri": "udp://h:1"}, "restream.uri"), ({"stream_id": 999999}, "restream.stream_id")):
        answer = http.patch(f"/streaming/restreams/{restream.id}", json={"restream": fields})
        assert answer.status_code == 422 and field in answer.json()["errors"], answer.text
    with pytest.raises(gcore.UnprocessableEntityError):
        client.streaming.restreams.update(restream.id, restream={"uri": "rtmp://h/no-key"})
    assert client.streaming.restreams.get(restream.id).uri == "rtmp://h/app/key"
    assert http.get("/streaming/restreams/999999").status_code == 404
