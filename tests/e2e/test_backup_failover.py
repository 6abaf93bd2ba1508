"""Main + backup publishers of one stream: the output fails over to the backup when main
stops (disconnect or silence) and comes back to main, players never see msn go back.

Main pushes RTMP at 320x240, the backup SRT at 352x288: the newest segment's decoded size
says whose media it is.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.media_check import newest_segment
from tests.support.publisher import ffmpeg_publish

MAIN_SIZE = (320, 240)
BACKUP_SIZE = (352, 288)
SWITCH_WITHIN = 10.0


class PlaylistWatch:
    """Reads the LL-HLS playlist as a player would and checks msn never goes back."""

    def __init__(self, http, stream_id: int) -> None:
        self.http, self.stream_id = http, stream_id
        self.last_msn = -1
        self.media_sequence = -1
        self.discontinuities = 0

    def size(self):
        playlist, size = newest_segment(self.http, self.stream_id)
        if playlist is None or not playlist.segments:
            return None
        msn = playlist.segments[-1].msn
        assert msn >= self.last_msn, f"msn went back from {self.last_msn} to {msn}"
        assert playlist.media_sequence >= self.media_sequence, "EXT-X-MEDIA-SEQUENCE went back"
        self.last_msn, self.media_sequence = msn, playlist.media_sequence
        self.discontinuities = max(self.discontinuities, sum(s.discontinuity for s in playlist.segments))
        return size

    def wait_for_size(self, size, timeout: float) -> float:
        started = time.monotonic()
        wait_for(lambda: self.size() == size, timeout=timeout, interval=0.25, what=f"newest segment at {size}")
        return time.monotonic() - started


def status(http, stream_id: int) -> dict:
    return http.get(f"/streaming/streams/{stream_id}").json()


@pytest.mark.both_databases
def test_failover_to_backup_and_back(media_node, http, new_stream):
    stream = new_stream()
    stream_id = stream["id"]
    watch = PlaylistWatch(http, stream_id)
    main = ffmpeg_publish(stream["push_url"], seconds=120, size="320x240")
    backup = ffmpeg_publish(
        stream["backup_push_url_srt"], seconds=120, size="352x288", pattern="testsrc", container="mpegts"
    )
    publishers = [main, backup]
    try:
        watch.wait_for_size(MAIN_SIZE, timeout=20)
        wait_for(lambda: status(http, stream_id)["backup_live"], what="backup_live")
        current = status(http, stream_id)
        assert current["started_at_backup"] and current["stream_source_type"] == "rtmp"

        main.kill()  # main disconnects
        main.wait()
        took = watch.wait_for_size(BACKUP_SIZE, timeout=SWITCH_WITHIN)
        print(f"main disconnected: backup in the newest segment after {took:.1f}s")
        assert watch.discontinuities >= 1
        wait_for(lambda: status(http, stream_id)["stream_source_type"] == "srt", what="source type srt")
        wait_for(
            lambda: "#EXT-X-DISCONTINUITY" in http.get(f"/live/{stream_id}/origin/mpegts.m3u8").text,
            what="discontinuity in the TS playlist",
        )
        wait_for(lambda: http.get(f"/live/{stream_id}/index.mpd").text.count("<Period") >= 2, what="a new DASH Period")

        main = ffmpeg_publish(stream["push_url"], seconds=120, size="320x240")  # main is back
        publishers.append(main)
        watch.wait_for_size(MAIN_SIZE, timeout=SWITCH_WITHIN)
        wait_for(lambda: status(http, stream_id)["stream_source_type"] == "rtmp", what="source type rtmp")

        main.send_signal(signal.SIGSTOP)  # main connected but silent
        try:
            took = watch.wait_for_size(BACKUP_SIZE, timeout=SWITCH_WITHIN + 2)
        finally:
            main.send_signal(signal.SIGCONT)
        back = watch.wait_for_size(MAIN_SIZE, timeout=SWITCH_WITHIN)  # sends again: back to main
        print(f"main silent: backup after {took:.1f}s; main resumed: main after {back:.1f}s")

        backup.kill()
        backup.wait()
        wait_for(lambda: not status(http, stream_id)["backup_live"], what="backup_live false")
        assert status(http, stream_id)["live"] is True
    finally:
        for publisher in publishers:
            publisher.kill()
            publisher.wait()


@pytest.mark.both_databases
def test_backup_alone_feeds_the_stream_and_slot_is_single(media_node, http, new_stream):
    stream = new_stream()
    backup = ffmpeg_publish(stream["backup_push_url"], seconds=30, size="352x288", pattern="testsrc")
    try:
        PlaylistWatch(http, stream["id"]).wait_for_size(BACKUP_SIZE, timeout=20)
        second = ffmpeg_publish(stream["backup_push_url_srt"], seconds=3, container="mpegts")
        assert second.wait(timeout=20) != 0  # one connection, one protocol per slot
        wait_for(lambda: "refused (1409)" in media_node.log(), what="conflict logged")
        assert backup.poll() is None
    finally:
        backup.kill()
        backup.wait()
