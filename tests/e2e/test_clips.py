"""Instant clips end to end (issue 19): a real node, ffmpeg publishing a test pattern into a
transcoded DVR stream (the origin and two small renditions), clips cut through the official SDK and decoded
by FFmpeg over HTTP: HLS (every rendition) and MP4 (the top one), a clip still ahead answering
425 then 200, `vod_required` making a ready video, an expired clip answering 404."""

from __future__ import annotations

import subprocess
import time

import gcore
import httpx
import pytest
from gcore import Gcore

from tests.e2e.conftest import wait_for
from tests.support.hls import parse_media_playlist
from tests.support.publisher import ffmpeg_publish
from tests.support.quality_sets import add_live_quality_set

RATE = 25
GOP = 2.0  # seconds: one keyframe per segment (the segment target), so a segment is a GOP


@pytest.fixture
def sdk(media_node):
    return Gcore(api_key=media_node.api_key, base_url=media_node.base_url, max_retries=0)


def frames(url: str, stream: str = "0:v:0") -> int:
    """How many video frames FFmpeg decodes from `url` (the first video stream of a master)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", url, "-map", stream, "-vsync", "passthrough", "-f", "framemd5", "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return sum(1 for line in out.splitlines() if not line.startswith("#"))


def listed_seconds(http: httpx.Client, stream_id: int) -> float:
    response = http.get(f"/live/{stream_id}/origin/index.m3u8")
    if response.status_code != 200:
        return 0.0
    return sum(s.duration for s in parse_media_playlist(response.text).segments)


def status(url: str) -> int:
    return httpx.get(url, timeout=15).status_code


def test_clips_are_cut_from_the_window_played_expired_and_refused(media_node, http, new_stream, sdk):
    quality_set = add_live_quality_set(media_node, "clip-small", [("q96", 128, 96, 150), ("q64", 86, 64, 100)])
    stream = new_stream(name="clips", dvr_enabled=True, dvr_duration=60, quality_set_id=quality_set)
    sid = stream["id"]
    publisher = ffmpeg_publish(stream["push_url"], seconds=90, size="160x120", rate=RATE, gop=int(GOP * RATE))
    clips = sdk.streaming.streams.clips
    try:
        wait_for(lambda: listed_seconds(http, sid) >= 12, timeout=60, what="12 s in the window")
        now = int(time.time())
        # the shortest-lived clip first: it expires a minute after its end, while the rest runs
        short = clips.create(sid, duration=2, start=now - 6, expiration=now - 4 + 60)
        past = clips.create(sid, duration=4, start=now - 8, vod_required=True)
        assert past.expiration == past.start + 4 + 3600 and past.renditions == ["120", "96", "64"]  # the origin on top
        assert {c.id for c in clips.list(sid)} == {short.id, past.id}

        for fields, field in (
            ({"duration": 61}, "duration"),  # longer than the window
            ({"duration": 2, "start": now - 600}, "start"),  # before it
            ({"duration": 2, "start": now + 600}, "start"),  # ahead of the live edge
            ({"duration": 2, "start": now - 6, "expiration": now - 4 + 30}, "expiration"),  # < 1 minute
            ({"duration": 2, "start": now - 6, "expiration": now - 4 + 5 * 3600}, "expiration"),  # > 4 hours
        ):
            with pytest.raises(gcore.UnprocessableEntityError) as refused:
                clips.create(sid, **fields)
            assert field in refused.value.body["errors"], fields

        # from now: its end is 10 s of real-time publishing ahead, so it is early when asked at once
        ahead = clips.create(sid, duration=10)
        assert status(ahead.mp4_master) == 425 and status(ahead.hls_master) == 425
        wait_for(lambda: status(ahead.mp4_master) == 200, timeout=40, what="the clip ahead complete")
        assert frames(ahead.mp4_master) >= 10 * RATE

        wait_for(lambda: status(past.mp4_master) == 200, timeout=30, what="the past clip complete")
        master = httpx.get(past.hls_master).text
        assert master.count("#EXT-X-STREAM-INF") == 3 and "RESOLUTION=128x96" in master and "TYPE=AUDIO" in master
        assert frames(past.mp4_master, "0:a:0") > 0  # the audio is in the MP4 too
        # whole segments from keyframe to keyframe: the requested 4 s, up to a GOP more at each end
        for count in (frames(past.mp4_master), frames(past.hls_master), frames(past.hls_master, "0:v:2")):
            assert 4 * RATE <= count <= (4 + 2 * GOP) * RATE

        video_id = wait_for(
            lambda: next(c for c in clips.list(sid) if c.id == past.id).video_id, timeout=30, what="the clip's video"
        )
        video = sdk.streaming.videos.get(video_id)
        assert video.status == "ready" and video.stream_id == sid and video.duration >= 4000
        assert frames(video.converted_videos[0].mp4_url) == frames(past.mp4_master)

        wait_for(lambda: status(short.mp4_master) == 404, timeout=90, interval=1, what="the short clip expired")
        assert status(short.hls_master) == 404 and short.id not in {c.id for c in clips.list(sid)}
        wait_for(lambda: not (media_node.data_dir / "clips" / short.id).exists(), what="its files deleted")
    finally:
        publisher.kill()
        publisher.wait()
