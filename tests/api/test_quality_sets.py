"""Quality sets: the seeded ladders and the account default, through the Gcore SDK."""

from __future__ import annotations

from gcore import Gcore


def test_built_in_sets(client: Gcore):
    sets = client.streaming.quality_sets.list()
    live = {s.name: s for s in sets.live}
    assert {"origin", "abr_1080p", "abr_720p", "abr_480p"} <= set(live)
    assert [q.name for q in live["abr_1080p"].qualities] == ["1080p", "720p", "480p", "360p"]
    assert [s.name for s in sets.vod] == ["vod_default"]
    assert sum(1 for s in sets.live if s.default) == 1
    assert sum(1 for s in sets.vod if s.default) == 1


def test_rungs_carry_their_encoding(http):
    live = http.get("/streaming/quality_sets").json()["live"]
    rung = next(s for s in live if s["name"] == "abr_720p")["qualities"][0]
    assert rung | {"id": 0} == {
        "id": 0,
        "name": "720p",
        "width": 1280,
        "height": 720,
        "video_bitrate": 3000,
        "audio_bitrate": 128,
        "max_frame_rate": 30.0,
    }


def test_set_default_and_reset(client: Gcore, http):
    live = {s.name: s.id for s in client.streaming.quality_sets.list().live}
    result = client.streaming.quality_sets.set_default(live={"id": live["abr_720p"]})
    assert [s.name for s in result.live if s.default] == ["abr_720p"]
    assert [s.name for s in client.streaming.quality_sets.list().live if s.default] == ["abr_720p"]
    response = http.put("/streaming/quality_sets/default", json={"live": {"id": None}})
    assert [s["name"] for s in response.json()["live"] if s["default"]] == ["origin"]


def test_set_default_rejects_unknown_or_wrong_kind(http):
    vod_id = http.get("/streaming/quality_sets").json()["vod"][0]["id"]
    response = http.put("/streaming/quality_sets/default", json={"live": {"id": vod_id}})
    assert response.status_code == 422 and "live.id" in response.json()["errors"]
    response = http.put("/streaming/quality_sets/default", json={"vod": {"id": 9999}})
    assert response.status_code == 422 and "vod.id" in response.json()["errors"]
