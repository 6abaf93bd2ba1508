"""Videos (recording results) through the Gcore SDK; rows are made the way the recorder will."""

from __future__ import annotations

import secrets
import string

import gcore
import httpx
import pytest
from gcore import Gcore

from tests.support.recordings import clip_runs, insert_video, recorded_video


def test_list_get_update_delete(client: Gcore, video_ids, http):
    first, second = video_ids
    video = client.streaming.videos.get(first)
    assert video.name == "Stream recorded part 1" and video.status == "ready"
    assert video.duration == 4000 and video.hls_url is None  # ready, but nothing recorded it
    assert client.streaming.videos.get(second).hls_url is None

    listed = [v.id for v in client.streaming.videos.list()]
    assert listed[:2] == [second, first]
    assert [v["id"] for v in http.get("/streaming/videos", params={"status": "pending"}).json()][:1] == [second]

    renamed = client.streaming.videos.update(first, name="Final cut", description="the keynote")
    assert renamed.name == "Final cut" and renamed.description == "the keynote"

    with pytest.raises(gcore.ConflictError):  # pending: being recorded
        client.streaming.videos.delete(second)
    client.streaming.videos.delete(first)
    with pytest.raises(gcore.NotFoundError):
        client.streaming.videos.get(first)


def test_update_rejects_empty_name(http, video_ids):
    response = http.patch(f"/streaming/videos/{video_ids[0]}", json={"name": ""})
    assert response.status_code == 422 and "name" in response.json()["errors"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return clip_runs(tmp_path_factory.mktemp("runs"), 1)


@pytest.fixture
def recorded(api_node, client: Gcore, runs):
    """Three videos of one stream, one of them with a real recording and a screenshot."""
    stream = client.streaming.streams.create(name="library")
    other = client.streaming.streams.create(name="elsewhere")
    tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))  # no digits: ids are searched too
    video_id, key = recorded_video(
        api_node, runs, screenshot=b"\xff\xd8jpeg", name=f"Keynote {tag} morning", stream_id=stream.id
    )
    pending = insert_video(
        api_node.database_url, name=f"Keynote {tag} afternoon", stream_id=stream.id, status="pending"
    )
    elsewhere = insert_video(api_node.database_url, name=f"Panel {tag}", stream_id=other.id, status="ready")
    return {"stream": stream.id, "video": video_id, "key": key, "pending": pending, "elsewhere": elsewhere, "tag": tag}


def test_a_recorded_video_has_its_playback_urls_and_screenshot(client: Gcore, recorded, api_node):
    video = client.streaming.videos.get(recorded["video"])
    base = f"{api_node.base_url}/videos/{recorded['video']}_{recorded['key']}"
    assert video.hls_url == video.hls_cmaf_url == f"{base}/master.m3u8"
    assert video.dash_url == f"{base}/index.mpd"
    assert video.origin_url == video.converted_videos[0].mp4_url == f"{base}/video.mp4"
    assert video.iframe_url == f"{api_node.base_url}/player/videos/{recorded['video']}_{recorded['key']}"
    assert video.screenshot == f"{base}/screenshot.jpg" and video.screenshots == [video.screenshot]
    assert video.slug == recorded["key"]
    assert video.duration == video.origin_video_duration == 6000
    assert httpx.get(video.screenshot).content == b"\xff\xd8jpeg"
    assert httpx.get(video.hls_url).status_code == 200
    pending = client.streaming.videos.get(recorded["pending"])
    assert pending.hls_url is pending.dash_url is pending.origin_url is pending.iframe_url is None
    assert pending.screenshots == [] and pending.converted_videos == []


def test_a_playback_url_with_a_wrong_slug_is_not_found(client: Gcore, recorded, api_node):
    video = client.streaming.videos.get(recorded["video"])
    wrong = video.hls_url.replace(recorded["key"], "x" * len(recorded["key"]))
    assert httpx.get(wrong).status_code == 404
    assert httpx.get(video.iframe_url.replace(recorded["key"], "nope")).status_code == 404
    assert httpx.get(video.iframe_url).status_code == 200


def test_list_filters_by_stream_and_searches_by_name_id_and_slug(client: Gcore, recorded, http):
    by_stream = client.streaming.videos.list(stream_id=recorded["stream"])
    assert [v.id for v in by_stream] == [recorded["pending"], recorded["video"]]
    assert [v.id for v in client.streaming.videos.list(search=f"Keynote {recorded['tag']}")] == [
        recorded["pending"],
        recorded["video"],
    ]
    assert [v.id for v in client.streaming.videos.list(search=f"Panel {recorded['tag']}")] == [recorded["elsewhere"]]
    assert [v.id for v in client.streaming.videos.list(search=str(recorded["video"]))] == [recorded["video"]]
    assert [v.id for v in client.streaming.videos.list(search=recorded["key"])] == [recorded["video"]]
    wanted = f"{recorded['video']},{recorded['elsewhere']}"
    assert [v.id for v in client.streaming.videos.list(id=wanted)] == [recorded["elsewhere"], recorded["video"]]
    assert http.get("/streaming/videos", params={"id": "1,x"}).status_code == 400


def test_list_pages_as_the_sdk_asks(client: Gcore, recorded, http):
    first = client.streaming.videos.list(stream_id=recorded["stream"], per_page=1)
    assert [v.id for v in first] == [recorded["pending"]]
    second = client.streaming.videos.list(stream_id=recorded["stream"], per_page=1, page=2)  # the SDK pages by number
    assert [v.id for v in second] == [recorded["video"]]
    assert [v.id for v in client.streaming.videos.list(stream_id=recorded["stream"], per_page=1, page=3)] == []
    response = http.get("/streaming/videos", params={"stream_id": recorded["stream"], "per_page": 1})
    assert response.headers["x-total-count"] == "2"


def test_update_renames_and_describes(client: Gcore, recorded):
    updated = client.streaming.videos.update(recorded["video"], name="Keynote, final", description="day one")
    assert updated.name == "Keynote, final" and updated.description == "day one"
    assert updated.hls_url is not None
    assert client.streaming.videos.get(recorded["video"]).name == "Keynote, final"


def test_names_of_the_given_videos(client: Gcore, recorded, http):
    client.streaming.videos.list_names(ids=[recorded["video"], recorded["elsewhere"]])  # the SDK's call answers
    answer = http.get("/streaming/videos/names", params={"ids": f"{recorded['video']},{recorded['elsewhere']},999999"})
    assert answer.status_code == 200
    assert answer.json() == [
        {"id": recorded["video"], "name": f"Keynote {recorded['tag']} morning"},
        {"id": recorded["elsewhere"], "name": f"Panel {recorded['tag']}"},
    ]


def test_delete_removes_the_recording_and_answers_404_after(client: Gcore, recorded, api_node):
    video = client.streaming.videos.get(recorded["video"])
    assert httpx.get(video.origin_url, headers={"Range": "bytes=0-99"}).status_code == 206  # loaded, kept
    directory = api_node.data_dir / "recordings" / recorded["key"]
    assert (directory / "index.jsonl").exists()
    client.streaming.videos.delete(recorded["video"])
    assert not directory.exists()
    with pytest.raises(gcore.NotFoundError):
        client.streaming.videos.get(recorded["video"])
    with pytest.raises(gcore.NotFoundError):
        client.streaming.videos.delete(recorded["video"])
    for url in (video.hls_url, video.origin_url, video.iframe_url, video.screenshot):
        assert httpx.get(url).status_code == 404, url


def test_a_video_being_recorded_is_not_deleted(client: Gcore, recorded, http):
    response = http.delete(f"/streaming/videos/{recorded['pending']}")
    assert response.status_code == 409 and "being recorded" in response.json()["message"]
    assert client.streaming.videos.get(recorded["pending"]).status == "pending"


def test_deleting_the_stream_keeps_its_videos(client: Gcore, recorded):
    client.streaming.streams.delete(recorded["stream"])
    video = client.streaming.videos.get(recorded["video"])
    assert video.stream_id == recorded["stream"] and video.hls_url is not None  # the SDK: "saved here"


def test_list_answers_only_the_fields_asked_for(client: Gcore, recorded, http):
    short = client.streaming.videos.list(stream_id=recorded["stream"], fields="id,name,hls_url")
    assert [(v.id, v.status) for v in short] == [(recorded["pending"], None), (recorded["video"], None)]
    assert short.items[1].hls_url.endswith("/master.m3u8") and short.items[1].name.startswith("Keynote")
    raw = http.get("/streaming/videos", params={"stream_id": recorded["stream"], "fields": "id"})
    assert raw.json() == [{"id": recorded["pending"]}, {"id": recorded["video"]}]
    assert raw.headers["x-total-count"] == "2"
    wrong = http.get("/streaming/videos", params={"fields": "id,secret"})
    assert wrong.status_code == 400 and "secret" in wrong.json()["message"]
