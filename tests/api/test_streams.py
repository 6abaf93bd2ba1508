"""Streams through the Gcore SDK, against SQLite and PostgreSQL."""

from __future__ import annotations

import gcore
import pytest
from gcore import Gcore


def test_create_returns_defaults_and_urls(client: Gcore, api_node):
    stream = client.streaming.streams.create(name="Conference in July")
    assert stream.id and stream.name == "Conference in July"
    assert stream.active is True and stream.live is False and stream.backup_live is False
    assert stream.dvr_enabled is False and stream.dvr_duration == 3600
    assert stream.auto_record is False and stream.record_type == "origin"
    assert stream.projection == "regular" and stream.pull is False
    assert stream.stream_source_type is None and stream.html_overlays == []
    assert len(stream.token) == 32 and int(stream.token, 16) >= 0  # 128 random bits, hex
    assert stream.push_url == f"rtmp://127.0.0.1:{api_node.rtmp_port}/in/{stream.id}?{stream.token}"
    assert stream.backup_push_url == f"rtmp://127.0.0.1:{api_node.rtmp_port}/backup/{stream.id}?{stream.token}"
    assert stream.push_url_srt == (f"srt://127.0.0.1:{api_node.srt_port}?streamid=in/{stream.id}/{stream.token}")
    assert stream.backup_push_url_srt.endswith(f"streamid=backup/{stream.id}/{stream.token}")
    base = api_node.base_url
    assert stream.push_url_whip == f"{base}/whip/{stream.id}"
    assert stream.hls_cmaf_url == f"{base}/live/{stream.id}/master.m3u8"
    assert stream.hls_mpegts_url == f"{base}/live/{stream.id}/master_mpegts.m3u8"
    assert stream.dash_url == f"{base}/live/{stream.id}/index.mpd"
    assert stream.iframe_url == f"{base}/player/{stream.id}"
    assert stream.created_at.endswith("Z")


def test_tokens_differ_between_streams(client: Gcore):
    a = client.streaming.streams.create(name="a")
    b = client.streaming.streams.create(name="b")
    assert a.token != b.token and a.id != b.id


def test_create_with_every_field(client: Gcore):
    stream = client.streaming.streams.create(
        name="full",
        active=False,
        auto_record=True,
        broadcast_ids=[3, 4],
        cdn_id=7,
        client_entity_data='{"seq": 1}',
        client_user_id=1001,
        dvr_duration=30,
        dvr_enabled=True,
        hls_mpegts_endlist_tag=False,
        html_overlay=True,
        projection="vr360",
        pull=True,
        uri="rtmp://origin.example/live/a srt://10.0.0.1:9000?streamid=x",
        quality_set_id=2,
        record_type="transcoded",
        srt_passphrase="correct-horse-battery",
    )
    got = client.streaming.streams.get(stream.id)
    assert got.active is False and got.auto_record is True and got.broadcast_ids == [3, 4]
    assert got.cdn_id == 7 and got.client_entity_data == '{"seq": 1}' and got.client_user_id == 1001
    assert got.dvr_duration == 30 and got.dvr_enabled and got.hls_mpegts_endlist_tag is False
    assert got.html_overlay and got.projection == "vr360" and got.pull
    assert got.uri == "rtmp://origin.example/live/a srt://10.0.0.1:9000?streamid=x"
    assert got.quality_set_id == 2 and got.record_type == "transcoded"
    assert got.srt_passphrase == "correct-horse-battery"


def test_update_changes_only_named_fields(client: Gcore):
    stream = client.streaming.streams.create(name="before", dvr_enabled=True, srt_passphrase="0123456789ab")
    updated = client.streaming.streams.update(stream.id, stream={"name": "after", "dvr_duration": 14400})
    assert updated.name == "after" and updated.dvr_duration == 14400
    assert updated.dvr_enabled is True and updated.srt_passphrase == "0123456789ab"
    assert updated.token == stream.token
    cleared = client.streaming.streams.update(stream.id, stream={"name": "after", "srt_passphrase": None})
    assert cleared.srt_passphrase is None
    assert client.streaming.streams.get(stream.id).srt_passphrase is None


def test_list_is_paged_with_total_header(client: Gcore, http):
    created = [client.streaming.streams.create(name=f"page-{i}").id for i in range(3)]
    response = http.get("/streaming/streams", params={"per_page": 2})
    assert response.status_code == 200
    total = int(response.headers["X-Total-Count"])
    assert total >= 3 and len(response.json()) == 2
    listed = [s.id for s in client.streaming.streams.list()]
    assert listed[:3] == sorted(created, reverse=True)  # newest first
    pages = [http.get("/streaming/streams", params={"page": p, "per_page": 2}).json() for p in (1, 2)]
    ids = [s["id"] for page in pages for s in page]
    assert len(ids) == len(set(ids)) == min(4, total)
    beyond = http.get("/streaming/streams", params={"page": 10_000}).json()
    assert beyond == []


def test_delete_then_404(client: Gcore):
    stream = client.streaming.streams.create(name="gone")
    client.streaming.streams.delete(stream.id)
    with pytest.raises(gcore.NotFoundError):
        client.streaming.streams.get(stream.id)
    with pytest.raises(gcore.NotFoundError):
        client.streaming.streams.delete(stream.id)


def test_a_deleted_streams_id_is_never_handed_out_again(client: Gcore):
    """Its URLs (segments are cached as immutable) must not start serving another stream."""
    client.streaming.streams.create(name="older")
    newest = client.streaming.streams.create(name="newest")
    client.streaming.streams.delete(newest.id)
    assert client.streaming.streams.create(name="next").id > newest.id


@pytest.mark.parametrize("action", ["start_recording", "clear_dvr"])
def test_live_only_actions_refuse_an_idle_stream(client: Gcore, action):
    stream = client.streaming.streams.create(name="idle", dvr_enabled=True)
    with pytest.raises(gcore.BadRequestError) as error:
        getattr(client.streaming.streams, action)(stream.id)
    assert "not live" in str(error.value)
    with pytest.raises(gcore.NotFoundError):
        getattr(client.streaming.streams, action)(987654)


def test_stop_recording_answers_empty_when_nothing_records(client: Gcore):
    """Not a 400: a recording waiting for its publisher (the grace) can be stopped off-air."""
    stream = client.streaming.streams.create(name="idle")
    assert client.streaming.streams.stop_recording(stream.id).id is None
    with pytest.raises(gcore.NotFoundError):
        client.streaming.streams.stop_recording(987654)
