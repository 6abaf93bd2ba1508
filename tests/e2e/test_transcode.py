"""RTMP in, an ABR ladder out: one 640x360 publish on a 480p/360p/240p quality set.

The set is the account default (`PUT /streaming/quality_sets/default`), so the stream needs
no quality_set_id. 480p is taller than the source: it must not appear. Every variant is read
back after the broadcast and decoded.
"""

from __future__ import annotations

import io
import re
import time
import xml.etree.ElementTree as ET

import av
import httpx
import pytest

from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.publisher import ffmpeg_publish
from tests.support.quality_sets import add_live_quality_set

SECONDS = 8
RATE = 25
FRAME = 1 / RATE
LADDER = [("480p", 854, 480, 900), ("360p", 640, 360, 500), ("240p", 426, 240, 250)]
EXPECTED = {"origin": (640, 360), "360p": (640, 360), "240p": (426, 240)}
MPD_NS = {"mpd": "urn:mpeg:dash:schema:mpd:2011"}


def frames(data: bytes) -> list[tuple[float, int, int]]:
    """(time, width, height) of every video frame decoded from `data`."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return [(float(f.pts * f.time_base), f.width, f.height) for f in container.decode(stream)]


def next_part(http: httpx.Client, url: str) -> tuple[str, httpx.Response]:
    """A blocking reload for the part after the last listed (as hls.js does), and the part's URI."""
    playlist = parse_media_playlist(http.get(url).text)
    msn = playlist.segments[-1].msn + 1 if playlist.segments else playlist.media_sequence
    index = len(playlist.pending_parts)
    return f"seg_{msn}.{index}.m4s", http.get(url, params={"_HLS_msn": msn, "_HLS_part": index})


@pytest.fixture(scope="module")
def ladder_broadcast(media_node):
    set_id = add_live_quality_set(media_node, "test_small", LADDER)
    with httpx.Client(base_url=media_node.base_url, headers=media_node.headers, timeout=15) as http:
        assert http.put("/streaming/quality_sets/default", json={"live": {"id": set_id}}).status_code == 200
        stream = http.post("/streaming/streams", json={"name": "ladder"}).json()
        base = f"/live/{stream['id']}"
        publisher = ffmpeg_publish(stream["push_url"], seconds=SECONDS, size="640x360", rate=RATE, gop=RATE)
        seen: dict = {"stream": stream}
        master = wait_for(lambda: fetch_ok(http, f"{base}/master.m3u8"), what="master playlist")
        seen["master"] = parse_master_playlist(master.text)[0]
        time.sleep(2)
        seen["status_live"] = http.get(f"/streaming/streams/{stream['id']}").json()
        seen["live_reloads"] = {v.uri.split("/")[0]: next_part(http, f"{base}/{v.uri}") for v in seen["master"]}
        assert publisher.wait(timeout=SECONDS + 30) == 0, publisher.stderr.read().decode()
        seen["variants"] = {}
        for variant in seen["master"]:
            url = f"{base}/{variant.uri}"
            final = wait_for(
                lambda url=url: (r := fetch_ok(http, url)) and "#EXT-X-ENDLIST" in r.text and r,
                what=f"ENDLIST of {url}",
            )
            playlist = parse_media_playlist(final.text)
            directory = url.rsplit("/", 1)[0]
            init = http.get(f"{directory}/init.mp4").content
            seen["variants"][variant.uri.split("/")[0]] = [
                (s.msn, frames(init + http.get(f"{directory}/{s.uri}").content)) for s in playlist.segments
            ]
        seen["mpd"] = http.get(f"{base}/index.mpd").text
        ts_master = http.get(f"{base}/master_mpegts.m3u8").text
        seen["ts_variants"] = parse_master_playlist(ts_master)[0]
        seen["ts"] = {}
        for variant in seen["ts_variants"]:
            url = f"{base}/{variant.uri}"
            playlist = parse_media_playlist(http.get(url).text)
            first = playlist.segments[0]
            seen["ts"][variant.uri.split("/")[0]] = frames(http.get(f"{url.rsplit('/', 1)[0]}/{first.uri}").content)
        http.put("/streaming/quality_sets/default", json={"live": {"id": None}})
        return seen


def test_master_lists_origin_and_every_rung_not_taller_than_the_source(ladder_broadcast):
    names = [v.uri.split("/")[0] for v in ladder_broadcast["master"]]
    assert names == ["origin", "360p", "240p"]
    for variant in ladder_broadcast["master"]:
        a = variant.attributes
        width, height = EXPECTED[variant.uri.split("/")[0]]
        assert a["RESOLUTION"] == f"{width}x{height}"
        assert re.fullmatch(r"avc1\.[0-9a-f]{6},mp4a\.40\.2", a["CODECS"]), a["CODECS"]
        assert float(a["FRAME-RATE"]) == pytest.approx(RATE, abs=0.1)
        assert int(a["BANDWIDTH"]) >= int(a["AVERAGE-BANDWIDTH"]) > 0


def test_rendition_bandwidths_follow_the_ladder(ladder_broadcast):
    bandwidth = {v.uri.split("/")[0]: int(v.attributes["AVERAGE-BANDWIDTH"]) for v in ladder_broadcast["master"]}
    assert bandwidth["360p"] > bandwidth["240p"]
    assert bandwidth["240p"] < 250_000 * 1.5 + 128_000  # the rung's video bitrate plus audio, with slack


def test_every_variant_decodes_at_its_resolution(ladder_broadcast):
    for name, segments in ladder_broadcast["variants"].items():
        assert len(segments) >= 3, name
        total = sum(len(f) for _, f in segments)
        assert total >= (SECONDS - 2) * RATE, f"{name}: only {total} frames"
        sizes = {(w, h) for _, decoded in segments for _, w, h in decoded}
        assert sizes == {EXPECTED[name]}, name


def test_segments_start_at_the_same_frame_in_every_variant(ladder_broadcast):
    starts = {
        name: {msn: min(t for t, _, _ in decoded) for msn, decoded in segments}
        for name, segments in ladder_broadcast["variants"].items()
    }
    origin = starts["origin"]
    for name, by_msn in starts.items():
        assert set(by_msn) == set(origin), f"{name} has other media sequence numbers"
        for msn, start in by_msn.items():
            assert abs(start - origin[msn]) < FRAME / 2, f"{name} segment {msn}: {start} vs {origin[msn]}"


def test_dash_mpd_has_every_representation_in_one_video_adaptation_set(ladder_broadcast):
    root = ET.fromstring(ladder_broadcast["mpd"])
    video_sets = [a for a in root.iter(f"{{{MPD_NS['mpd']}}}AdaptationSet") if a.get("contentType") == "video"]
    assert len(video_sets) == 1
    representations = {
        r.get("id"): (int(r.get("width")), int(r.get("height")))
        for r in video_sets[0].iter(f"{{{MPD_NS['mpd']}}}Representation")
    }
    assert representations == EXPECTED


def test_mpegts_master_carries_every_variant(ladder_broadcast):
    names = [v.uri.split("/")[0] for v in ladder_broadcast["ts_variants"]]
    assert names == ["origin", "360p", "240p"]
    for variant in ladder_broadcast["ts_variants"]:
        a = variant.attributes
        assert a["RESOLUTION"] == "{}x{}".format(*EXPECTED[variant.uri.split("/")[0]])
        assert re.fullmatch(r"avc1\.[0-9a-f]{6},mp4a\.40\.2", a["CODECS"]), a["CODECS"]
        assert int(a["BANDWIDTH"]) >= int(a["AVERAGE-BANDWIDTH"]) > 0
    for name, decoded in ladder_broadcast["ts"].items():
        assert decoded and {(w, h) for _, w, h in decoded} == {EXPECTED[name]}, name


def test_every_variant_is_live_with_blocking_reloads(ladder_broadcast):
    for name, (part, response) in ladder_broadcast["live_reloads"].items():
        assert response.status_code == 200, name
        assert f'URI="{part}"' in response.text, f"{name}: {part} not listed after the blocking reload"
        assert "#EXT-X-RENDITION-REPORT" in response.text


def test_api_lists_transcoded_qualities_and_speed(ladder_broadcast):
    status = ladder_broadcast["status_live"]
    assert status["live"] is True
    assert status["transcoded_qualities"] == ["origin", "360p", "240p"]
    assert status["transcoding_speed"] is not None and status["transcoding_speed"] > 0


def test_a_streams_own_quality_set_overrides_the_default_and_never_upscales(media_node, ladder_broadcast):
    """The built-in abr_480p set (480p + 360p) on a 640x360 source: origin and 360p only."""
    with httpx.Client(base_url=media_node.base_url, headers=media_node.headers, timeout=15) as http:
        sets = http.get("/streaming/quality_sets").json()["live"]
        abr_480p = next(s["id"] for s in sets if s["name"] == "abr_480p")
        small = next(s["id"] for s in sets if s["name"] == "test_small")
        http.put("/streaming/quality_sets/default", json={"live": {"id": small}})  # 240p would appear
        stream = http.post("/streaming/streams", json={"name": "own set", "quality_set_id": abr_480p}).json()
        publisher = ffmpeg_publish(stream["push_url"], seconds=4, size="640x360", rate=RATE, gop=RATE)
        try:
            master = wait_for(lambda: fetch_ok(http, f"/live/{stream['id']}/master.m3u8"), what="master")
            variants = parse_master_playlist(master.text)[0]
            status = wait_for(
                lambda: (s := http.get(f"/streaming/streams/{stream['id']}").json())["live"] and s, what="live status"
            )
        finally:
            publisher.wait(timeout=30)
            http.put("/streaming/quality_sets/default", json={"live": {"id": None}})
    assert [(v.uri, v.attributes["RESOLUTION"]) for v in variants] == [
        ("origin/index.m3u8", "640x360"),
        ("360p/index.m3u8", "640x360"),
    ]
    assert status["transcoded_qualities"] == ["origin", "360p"]
