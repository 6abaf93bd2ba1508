"""A stream's worker killed outright (OOM killer, a crash in a codec) comes back on its own:
the node starts the next worker at the publisher's next keyframe and players see a new part
after a discontinuity. The time from the kill to that part is printed (the issue's target is
3 s; here it measured ~1 s, see docs/architecture.md "Faults"); the test asserts only that it
comes and plays, since a wall-clock bound would fail on a loaded machine."""

from __future__ import annotations

import io
import os
import signal
import time

import av

from tests.e2e.conftest import wait_for
from tests.e2e.media_check import segment_maps
from tests.e2e.restart_check import named_msn
from tests.support.hls import parse_media_playlist
from tests.support.publisher import ffmpeg_publish

PLAYLIST = "origin/index.m3u8"


def first_new_part(http, stream_id: int, past_msn: int) -> tuple[str, str] | None:
    """(init URI, part URI) of the first part listed in a segment numbered past `past_msn`."""
    response = http.get(f"/live/{stream_id}/{PLAYLIST}")
    if response.status_code != 200:
        return None
    playlist = parse_media_playlist(response.text)
    maps = segment_maps(response.text)
    for segment in playlist.segments:
        if segment.msn > past_msn and segment.parts and not segment.gap:
            return maps[segment.uri], segment.parts[0].uri
    in_progress = playlist.segments[-1].msn + 1 if playlist.segments else playlist.media_sequence
    if in_progress > past_msn and playlist.pending_parts:
        current_map = response.text.rsplit('#EXT-X-MAP:URI="', 1)[1].split('"', 1)[0]
        return current_map, playlist.pending_parts[0].uri
    return None


def test_a_killed_worker_is_replaced_and_the_stream_plays_on(media_node, http, new_stream):
    stream = new_stream(name="worker kill")
    sid = stream["id"]
    publisher = ffmpeg_publish(stream["push_url"], seconds=40)
    try:
        wait_for(lambda: first_new_part(http, sid, 0), timeout=30, what="a second segment's parts")
        named = named_msn(parse_media_playlist(http.get(f"/live/{sid}/{PLAYLIST}").text))
        pid = media_node.worker_pid(sid)
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        init_uri, part_uri = wait_for(
            lambda: first_new_part(http, sid, named), timeout=30, interval=0.02, what="a part of a new worker"
        )
        print(f"\nworker SIGKILL → first new part listed after {time.monotonic() - killed:.2f} s")
        assert media_node.worker_pid(sid) not in (None, pid)
        media = http.get(f"/live/{sid}/origin/{init_uri}").content + http.get(f"/live/{sid}/origin/{part_uri}").content
        with av.open(io.BytesIO(media)) as container:  # the new part plays from its own init
            frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (320, 240)
        wait_for(lambda: first_new_part(http, sid, named + 1), timeout=30, what="the live edge moving on")
    finally:
        publisher.kill()
        publisher.wait()
    assert "Traceback" not in media_node.log()
