"""A publisher that changes picture size mid-stream, over RTMP and SRT, with a quality set.

The source: 9 s at 640x360, then 6 s at 320x180 (two x264 encodes joined into one MPEG-TS,
the new SPS in-band), pushed in real time with `ffmpeg -c copy` as FLV over RTMP or as
MPEG-TS over SRT. What a player reads must follow: the origin's RESOLUTION in both masters,
its new init segment (the avcC's SPS, the tkhd), the MPD's width/height in a new Period,
the API's `video_width`/`video_height`, and ffmpeg decodes the origin playlist across the
change. The 240p rendition keeps its size throughout.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.e2e.conftest import fetch_ok, wait_for
from tests.e2e.test_player import watch
from tests.support.browser import chromium_page
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.quality_sets import add_live_quality_set
from tests.support.size_change import init_sizes, init_sps, size_changing_clip

PARTS = (("640x360", 9), ("320x180", 6))  # 9 s: a loaded machine may list the master late
MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def push(clip, url: str, container: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-i",
            str(clip),
            "-c",
            "copy",
            "-f",
            container,
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def resolutions(text: str) -> dict[str, str]:
    return {v.uri.split("/")[0]: v.attributes["RESOLUTION"] for v in parse_master_playlist(text)[0]}


def origin_sizes_in_mpd(text: str) -> list[tuple[str, str]]:
    root = ET.fromstring(text)
    return [
        (r.get("width"), r.get("height"))
        for period in root.findall("d:Period", MPD_NS)
        for r in period.iter(f"{{{MPD_NS['d']}}}Representation")
        if r.get("id") == "origin"
    ]


@pytest.fixture(scope="module", params=["rtmp", "srt"])
def changed_stream(request, media_node, tmp_path_factory):
    clip = size_changing_clip(tmp_path_factory.mktemp("size-change"), PARTS)
    set_id = add_live_quality_set(media_node, f"resize_{request.param}", [("240p", 426, 240, 250)])
    with httpx.Client(base_url=media_node.base_url, headers=media_node.headers, timeout=15) as http:
        stream = http.post("/streaming/streams", json={"name": "resize", "quality_set_id": set_id}).json()
        base = f"/live/{stream['id']}"
        url, container = (stream["push_url"], "flv") if request.param == "rtmp" else (stream["push_url_srt"], "mpegts")
        publisher = push(clip, url, container)
        seen: dict = {"stream": stream, "base": base}
        try:
            seen["first_master"] = wait_for(lambda: fetch_ok(http, f"{base}/master.m3u8"), what="master").text
            seen["first_ts_master"] = wait_for(
                lambda: fetch_ok(http, f"{base}/master_mpegts.m3u8"), what="TS master"
            ).text
            seen["first_status"] = wait_for(
                lambda: (s := http.get(f"/streaming/streams/{stream['id']}").json())["video_width"] and s,
                what="live status",
            )
            # while live, after the change: what a player loading the stream now reads
            seen["master"] = wait_for(
                lambda: (r := fetch_ok(http, f"{base}/master.m3u8")) and "320x180" in r.text and r.text,
                timeout=30,
                what="master at 320x180",
            )
            seen["ts_master"] = wait_for(
                lambda: (r := fetch_ok(http, f"{base}/master_mpegts.m3u8")) and "320x180" in r.text and r.text,
                timeout=20,
                what="TS master at 320x180",
            )
            seen["mpd"] = wait_for(
                lambda: (
                    (r := fetch_ok(http, f"{base}/index.mpd"))
                    and ("320", "180") in origin_sizes_in_mpd(r.text)
                    and r.text
                ),
                timeout=20,
                what="MPD Period at 320x180",
            )
            seen["status"] = wait_for(
                lambda: (s := http.get(f"/streaming/streams/{stream['id']}").json())["video_width"] == 320 and s,
                timeout=20,
                what="status video_width 320",
            )
            assert publisher.wait(timeout=60) == 0, publisher.stderr.read().decode()
            for rendition in ("origin", "240p"):
                seen[rendition] = wait_for(
                    lambda rendition=rendition: (
                        (r := fetch_ok(http, f"{base}/{rendition}/index.m3u8"))
                        and "#EXT-X-ENDLIST" in r.text
                        and r.text
                    ),
                    what=f"{rendition} ENDLIST",
                )
                seen[f"{rendition}_ts"] = http.get(f"{base}/{rendition}/mpegts.m3u8").text
            seen["inits"] = {name: http.get(f"{base}/origin/{name}").content for name in ("init.mp4", "init_1.mp4")}
            seen["rendition_init"] = http.get(f"{base}/240p/init_1.mp4").content
            seen["frames"] = {
                name: decoded_sizes(f"{media_node.base_url}{base}/{name}")
                for name in ("origin/index.m3u8", "240p/index.m3u8", "origin/mpegts.m3u8")
            }
        finally:
            publisher.kill()
            publisher.wait()
        return seen


def decoded_sizes(url: str) -> dict[str, int]:
    """'WxH' → frames ffmpeg decodes at that size when it plays `url`; ffmpeg must say nothing."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=width,height", "-of", "json", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0 and probe.stderr == "", probe.stderr
    sizes: dict[str, int] = {}
    for frame in json.loads(probe.stdout)["frames"]:
        key = f"{frame['width']}x{frame['height']}"
        sizes[key] = sizes.get(key, 0) + 1
    return sizes


def test_the_masters_tell_the_new_resolution(changed_stream):
    assert resolutions(changed_stream["first_master"]) == {"origin": "640x360", "240p": "426x240"}
    assert resolutions(changed_stream["master"]) == {"origin": "320x180", "240p": "426x240"}
    assert resolutions(changed_stream["first_ts_master"]) == {"origin": "640x360", "240p": "426x240"}
    assert resolutions(changed_stream["ts_master"]) == {"origin": "320x180", "240p": "426x240"}


def test_the_new_init_segment_carries_the_new_sps(changed_stream):
    first, second = changed_stream["inits"]["init.mp4"], changed_stream["inits"]["init_1.mp4"]
    assert (init_sps(first).width, init_sps(first).height) == (640, 360)
    assert (init_sps(second).width, init_sps(second).height) == (320, 180)
    assert init_sizes(second) == ((320, 180), (320, 180))
    assert f'CODECS="{init_sps(second).codec},' in changed_stream["master"]
    rendition = changed_stream["rendition_init"]
    assert (init_sps(rendition).width, init_sps(rendition).height) == (426, 240)


def test_playlists_mark_one_discontinuity_at_the_same_segment(changed_stream):
    marked = {}
    for name in ("origin", "240p", "origin_ts", "240p_ts"):
        playlist = parse_media_playlist(changed_stream[name])
        marked[name] = [s.msn for s in playlist.segments if s.discontinuity]
    assert len(marked["origin"]) == 1 and marked["origin"] == marked["240p"], marked
    assert len(marked["origin_ts"]) == 1 and marked["origin_ts"] == marked["240p_ts"], marked
    origin = parse_media_playlist(changed_stream["origin"])
    assert {s.map_uri for s in origin.segments if s.msn >= marked["origin"][0]} == {"init_1.mp4"}


def test_the_mpd_starts_a_period_at_the_new_size(changed_stream):
    assert origin_sizes_in_mpd(changed_stream["mpd"]) == [("640", "360"), ("320", "180")]


def test_the_api_follows_the_new_size(changed_stream):
    first, now = changed_stream["first_status"], changed_stream["status"]
    assert (first["video_width"], first["video_height"]) == (640, 360)
    assert (now["video_width"], now["video_height"]) == (320, 180)
    assert now["transcoded_qualities"] == ["origin", "240p"]


def test_ffmpeg_plays_every_variant_across_the_change(changed_stream):
    frames = changed_stream["frames"]
    for name in ("origin/index.m3u8", "origin/mpegts.m3u8"):
        assert set(frames[name]) == {"640x360", "320x180"}, (name, frames[name])
        assert frames[name]["320x180"] >= 5 * 25, (name, frames[name])  # the new size plays on
    assert set(frames["240p/index.m3u8"]) == {"426x240"}
    assert sum(frames["240p/index.m3u8"].values()) == sum(frames["origin/index.m3u8"].values())


@pytest.mark.parametrize("engine", ["hls", "dash"])
def test_the_built_in_player_plays_on_at_the_new_size(media_node, new_stream, tmp_path_factory, engine):
    """hls.js across the EXT-X-DISCONTINUITY and new EXT-X-MAP, dash.js across the new Period:
    the picture becomes 320 wide and playback goes on past the change, without an error."""
    clip = size_changing_clip(tmp_path_factory.mktemp("size-change-player"), (("640x360", 8), ("320x180", 8)))
    stream = new_stream(name=f"resize {engine}")
    publisher = push(clip, stream["push_url"], "flv")
    try:
        with chromium_page() as tab:
            tab.goto(stream["iframe_url"] + ("" if engine == "hls" else "?engine=dash"))
            before = watch(tab, lambda s: s["t"] > 0 and s["width"] == 640, timeout=25)
            assert before["width"] == 640, before
            # playing, past the change, at the new size: a stall of the shared machine may leave
            # it buffering for a moment at any instant, so the test waits for playing again
            after = watch(
                tab,
                lambda s: s["width"] == 320 and s["t"] > before["t"] + 2 and s["state"] == "playing",
                timeout=30,
            )
    finally:
        publisher.kill()
        publisher.wait()
    assert after["width"] == 320 and after["t"] > before["t"] + 2, after
    assert after["status"] == "" and after["state"] == "playing", after
