"""Players nobody here wrote, reading one live ABR broadcast as viewers' apps do.

One 640x360 RTMP publish on a two-variant quality set (the origin and 240p): Shaka Player 5
in Chromium plays its LL-HLS master, its DASH MPD and its MPEG-TS master; ffmpeg, GStreamer's
`playbin3` and VLC 3 decode the CMAF and the MPEG-TS masters, ffmpeg the MPD's listed window
too (its DASH demuxer loses its place at a sliding window's live edge). Each must decode frames with
timestamps that go forward. The players' own latency figures are printed (`-s` shows them);
`bench.latency` measures them properly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.players import browser_play, ffmpeg_read, gstreamer_read, vlc_read
from tests.support.publisher import ffmpeg_publish
from tests.support.quality_sets import add_live_quality_set

LADDER = [("240p", 426, 240, 250)]
URL_FIELDS = {"cmaf": "hls_cmaf_url", "mpegts": "hls_mpegts_url", "dash": "dash_url"}


@pytest.fixture(scope="module")
def abr_broadcast(media_node):
    """A live stream with two video variants that runs through every test of the module."""
    set_id = add_live_quality_set(media_node, "third_party", LADDER)
    with httpx.Client(base_url=media_node.base_url, headers=media_node.headers, timeout=15) as http:
        stream = http.post("/streaming/streams", json={"name": "players", "quality_set_id": set_id}).json()
        publisher = ffmpeg_publish(stream["push_url"], seconds=240, size="640x360", gop=25)
        try:
            base = f"/live/{stream['id']}"
            for path in ("master.m3u8", "master_mpegts.m3u8", "index.mpd"):
                wait_for(lambda path=path: fetch_ok(http, f"{base}/{path}"), timeout=30, what=path)
            master = http.get(f"{base}/master.m3u8").text
            assert master.count("#EXT-X-STREAM-INF") == 2, master
            wait_for(
                lambda: http.get(f"{base}/master_mpegts.m3u8").text.count("#EXT-X-STREAM-INF") == 2,
                what="both variants in the TS master",
            )
            yield stream
        finally:
            publisher.kill()
            publisher.wait()


@pytest.mark.parametrize("output", ["cmaf", "dash", "mpegts"])
def test_shaka_player_plays(abr_broadcast, output):
    playback = browser_play("shaka", abr_broadcast[URL_FIELDS[output]], seconds=6)
    print(f"Shaka {output}: live latency it reports {playback.latencies[-3:]}")
    assert playback.end["errors"] == [], playback.end
    # Both variants as loaded (Shaka may later disable one for frames this busy machine dropped)
    assert playback.start["live"] is True and playback.start["variants"] == 2, playback.start
    assert playback.played > 4, (playback.start, playback.end)


@pytest.mark.parametrize("output", ["cmaf", "mpegts", "dash"])
def test_ffmpeg_decodes(abr_broadcast, output):
    url = abr_broadcast[URL_FIELDS[output]]
    if output == "dash":  # ffmpeg's DASH demuxer reads the listed window only (README, players)
        wait_for(lambda: listed_segments(httpx.get(url).text) >= 4, timeout=30, what="8 s listed")
    decoded = ffmpeg_read(url, seconds=4)
    assert len(decoded.times) >= 80 and decoded.monotonic, decoded  # 25 fps


def listed_segments(mpd: str) -> int:
    """How many segments the first Representation's SegmentTimeline lists."""
    timeline = ET.fromstring(mpd).find(".//{*}Representation//{*}SegmentTimeline")
    return sum(1 + int(s.get("r", 0)) for s in timeline) if timeline is not None else 0


@pytest.mark.parametrize("output", ["cmaf", "mpegts"])
def test_gstreamer_playbin3_decodes(abr_broadcast, output):
    decoded = gstreamer_read(abr_broadcast[URL_FIELDS[output]], seconds=8)
    assert len(decoded.times) >= 50 and decoded.monotonic, decoded.log


@pytest.mark.parametrize("output", ["cmaf", "mpegts"])
def test_vlc_decodes(abr_broadcast, output):
    decoded = vlc_read(abr_broadcast[URL_FIELDS[output]], seconds=8)
    assert len(decoded.times) >= 50 and decoded.monotonic, decoded.log
