"""GStreamer 1.22 as the publisher (gst-launch-1.0): RTMP through `flvmux ! rtmp2sink` and
`flvmux ! rtmpsink` (librtmp), SRT through `mpegtsmux ! srtsink`, each to the URL the API hands
out. The stream plays (playlists and parts served, the newest segment decodes), then the
publisher stops — an EOS (`-e` and SIGINT: the muxer finishes and the sink closes its session)
or a kill — and the worker survives it: no crash, no restart, the stream ends cleanly (live
false, final playlists with ENDLIST).

GStreamer's flvmux repeats `onMetaData` every few seconds; FFmpeg's FLV demuxer made a subtitle
stream of each repeat, and PyAV's demux then raised IndexError at the end of the input: every
GStreamer RTMP publisher that stopped crashed its worker.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.media_check import newest_segment
from tests.support.hls import parse_media_playlist
from tests.support.publisher import gst_publish

SINKS = ("rtmp2sink", "rtmpsink", "srtsink")


def crash_lines(log: str, stream_id: int) -> list[str]:
    """The node's log lines telling of a worker of this stream failing or being restarted."""
    ours = (f"stream {stream_id} worker:", f"stream {stream_id}:")
    return [
        line
        for line in log.splitlines()
        if any(tag in line for tag in ours)
        and any(sign in line for sign in ("ERROR", "Traceback", "exited with", "failed"))
    ]


def serving_parts(http, stream_id: int):
    """The origin playlist once it lists two segments and its newest part is served."""
    response = http.get(f"/live/{stream_id}/origin/index.m3u8")
    if response.status_code != 200:
        return None
    playlist = parse_media_playlist(response.text)
    parts = [p for s in playlist.segments for p in s.parts] + playlist.pending_parts
    if len(playlist.segments) < 2 or not parts:
        return None
    part = http.get(f"/live/{stream_id}/origin/{parts[-1].uri}")
    return playlist if part.status_code == 200 and part.content else None


def ended(http, stream_id: int, path: str) -> bool:
    response = http.get(f"/live/{stream_id}/{path}")
    return response.status_code == 200 and "#EXT-X-ENDLIST" in response.text


def stop(publisher: subprocess.Popen, how: str) -> None:
    if how == "eos":
        publisher.send_signal(signal.SIGINT)
        _, errors = publisher.communicate(timeout=30)
        assert publisher.returncode == 0, errors.decode(errors="replace")[-2000:]
    else:
        publisher.kill()
        publisher.wait()


@pytest.mark.parametrize("how", ["eos", "kill"])
@pytest.mark.parametrize("sink", SINKS)
def test_gstreamer_publisher_plays_then_stops_and_the_stream_ends_cleanly(media_node, http, new_stream, sink, how):
    stream = new_stream()
    stream_id = stream["id"]
    url = stream["push_url_srt"] if sink == "srtsink" else stream["push_url"]
    publisher = gst_publish(url, sink=sink)
    try:
        wait_for(lambda: serving_parts(http, stream_id), timeout=30, what=f"parts from {sink}")
        _, size = newest_segment(http, stream_id)
        assert size == (320, 240)
        for path in ("master.m3u8", "audio/index.m3u8", "master_mpegts.m3u8", "index.mpd"):
            assert http.get(f"/live/{stream_id}/{path}").status_code == 200, path
        status = http.get(f"/streaming/streams/{stream_id}").json()
        assert status["live"] is True
        assert status["stream_source_type"] == ("srt" if sink == "srtsink" else "rtmp")
        stop(publisher, how)
        # final playlists are served for a few seconds after the end: poll them first
        wait_for(lambda: ended(http, stream_id, "origin/index.m3u8"), timeout=20, what="origin ENDLIST")
        assert ended(http, stream_id, "audio/index.m3u8")
        assert ended(http, stream_id, "origin/mpegts.m3u8")
        wait_for(lambda: http.get(f"/streaming/streams/{stream_id}").json()["live"] is False, what="live=false")
    finally:
        publisher.kill()
        publisher.wait()
    assert crash_lines(media_node.log(), stream_id) == []
    assert f"stream {stream_id}: worker exited" not in media_node.log()
