"""Sources most players cannot decode (10-bit or 4:4:4 H.264) are told, not passed silently:
the stream's `source_warning`, one warning line in the node's log per publish, and with a
quality set renditions in 8-bit 4:2:0 (the origin variant still passes the source through,
its CODECS naming the profile)."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.publisher import ffmpeg_publish, gst_publish
from tests.support.quality_sets import add_live_quality_set

HIGH_10 = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-tune",
    "zerolatency",
    "-g",
    "25",
    "-keyint_min",
    "25",
    "-sc_threshold",
    "0",
    "-pix_fmt",
    "yuv420p10le",
    "-profile:v",
    "high10",
]


def probe(data: bytes) -> dict:
    """ffprobe's view of the video stream of `data` (an init segment + a media segment)."""
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=pix_fmt,profile,width,height",
            "-of",
            "json",
            "-",
        ],
        input=data,
        capture_output=True,
        check=True,
    )
    return json.loads(result.stdout)["streams"][0]


def newest_segment_bytes(http: httpx.Client, base: str, variant: str) -> bytes | None:
    response = http.get(f"{base}/{variant}/index.m3u8")
    if response.status_code != 200:
        return None
    playlist = parse_media_playlist(response.text)
    if not playlist.segments:
        return None
    init = http.get(f"{base}/{variant}/init.mp4").content
    return init + http.get(f"{base}/{variant}/{playlist.segments[-1].uri}").content


def warning_of(http: httpx.Client, stream_id: int) -> str | None:
    return http.get(f"/streaming/streams/{stream_id}").json().get("source_warning")


def test_10_bit_h264_is_flagged_and_its_renditions_are_8_bit_4_2_0(media_node, http, new_stream):
    set_id = add_live_quality_set(media_node, "ten_bit", [("160p", 214, 160, 150)])
    stream = new_stream(quality_set_id=set_id)
    base = f"/live/{stream['id']}"
    publisher = ffmpeg_publish(stream["push_url"], seconds=30, video_codec=HIGH_10)
    try:
        wait_for(lambda: newest_segment_bytes(http, base, "160p"), timeout=30, what="a 160p segment")
        rendition = probe(newest_segment_bytes(http, base, "160p"))
        assert rendition["pix_fmt"] == "yuv420p" and rendition["profile"] in ("High", "Main"), rendition
        origin = probe(newest_segment_bytes(http, base, "origin"))
        assert origin["pix_fmt"] == "yuv420p10le" and origin["profile"] == "High 10", origin
        master = wait_for(lambda: fetch_ok(http, f"{base}/master.m3u8"), what="master playlist")
        variants, _ = parse_master_playlist(master.text)
        codecs = {v.uri.split("/")[0]: v.attributes["CODECS"] for v in variants}
        assert codecs["origin"].startswith("avc1.6e"), codecs  # profile_idc 110: High 10
        assert codecs["160p"].startswith(("avc1.64", "avc1.4d")), codecs  # High or Main

        warning = wait_for(lambda: warning_of(http, stream["id"]), what="source_warning")
        assert "H.264 High 10, 10-bit 4:2:0 (yuv420p10le)" in warning
        assert "the renditions are 8-bit 4:2:0" in warning
        lines = [
            line
            for line in media_node.log().splitlines()
            if f"stream {stream['id']}: source video is H.264 High 10" in line
        ]
        assert len(lines) == 1 and "WARNING" in lines[0], lines
    finally:
        publisher.kill()
        publisher.wait()


def test_gstreamer_4_4_4_source_is_flagged_until_a_playable_publish(media_node, http, new_stream):
    """GStreamer's x264enc takes videotestsrc's 4:4:4 10-bit output as it is when no caps say
    otherwise: High 4:4:4 Predictive."""
    stream = new_stream()
    publisher = gst_publish(stream["push_url"], pixel_format="Y444_10LE")
    try:
        warning = wait_for(lambda: warning_of(http, stream["id"]), timeout=30, what="source_warning")
        assert "H.264 High 4:4:4 Predictive, 10-bit 4:4:4 (yuv444p10le)" in warning
        assert "a quality set adds 8-bit 4:2:0 renditions" in warning
    finally:
        publisher.kill()
        publisher.wait()
    wait_for(lambda: http.get(f"/streaming/streams/{stream['id']}").json()["live"] is False, what="live=false")
    assert warning_of(http, stream["id"]) == warning  # still tells why the last publish did not play

    publisher = ffmpeg_publish(stream["push_url"], seconds=30)
    try:
        wait_for(lambda: http.get(f"/streaming/streams/{stream['id']}").json()["live"], what="live again")
        assert warning_of(http, stream["id"]) is None
    finally:
        publisher.kill()
        publisher.wait()
