"""SRT in (Debian's ffmpeg with libsrt as the caller): routing by streamid, tokens,
passphrases, refusals, and garbage on the SRT port; the output plays as LL-HLS."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time

from tests.e2e.conftest import fetch_ok, last_msn, wait_for
from tests.e2e.media_check import newest_segment
from tests.support.init_conformance import audio_segment_ready, check_init_segments
from tests.support.mpd_conformance import watch_mpd
from tests.support.publisher import ffmpeg_publish

PASSPHRASE = "correct-horse-battery"


def srt_push(url: str, seconds: float = 6, **options) -> subprocess.Popen:
    return ffmpeg_publish(url, seconds=seconds, container="mpegts", **options)


def refusal(publisher: subprocess.Popen) -> str:
    """ffmpeg's error output once it has given up; fails the test if ffmpeg got through."""
    try:
        _, errors = publisher.communicate(timeout=20)
    finally:
        publisher.kill()
    assert publisher.returncode != 0, "the caller was accepted"
    return errors.decode(errors="replace")


def srt_url(node, streamid: str, extra: str = "") -> str:
    return f"srt://127.0.0.1:{node.srt_port}?streamid={streamid}{extra}"


def playing(http, stream_id: int, size: tuple[int, int]) -> None:
    """The stream's LL-HLS output has two segments and the newest decodes at `size`."""

    def check():
        playlist, frame_size = newest_segment(http, stream_id)
        return playlist is not None and len(playlist.segments) >= 2 and frame_size == size

    wait_for(check, timeout=20, what=f"LL-HLS segments at {size}")


def test_srt_push_plays_as_ll_hls(media_node, http, new_stream):
    stream = new_stream()
    url = stream["push_url_srt"]
    assert url == srt_url(media_node, f"in/{stream['id']}/{stream['token']}")
    publisher = srt_push(url, seconds=8, sample_rate=48000)  # mono: ADTS says so, and the output must
    try:
        playing(http, stream["id"], (320, 240))
        wait_for(lambda: audio_segment_ready(http, stream["id"]), what="an audio segment")
        audio = check_init_segments(http, stream["id"])["audio"]
        assert (audio.timescale, audio.channel_count) == (48000, 1)
        assert fetch_ok(http, f"/live/{stream['id']}/master_mpegts.m3u8")
        watch_mpd(http, f"/live/{stream['id']}/index.mpd", seconds=3).assert_conformant()
        status = http.get(f"/streaming/streams/{stream['id']}").json()
        assert status["live"] is True and status["stream_source_type"] == "srt"
        assert status["backup_live"] is False
    finally:
        publisher.kill()
        publisher.wait()
    assert stream["token"] not in media_node.log()


def test_passphrase_wrong_or_missing_refused_right_one_plays(media_node, http, new_stream, live_stream):
    stream = new_stream(srt_passphrase=PASSPHRASE)
    url = stream["push_url_srt"]
    before = last_msn(http, live_stream["id"])
    wrong = refusal(srt_push(url + "&passphrase=wrong-horse-battery&pbkeylen=16"))
    missing = refusal(srt_push(url))
    assert "passphrase" in wrong.lower() or "password" in wrong.lower(), wrong
    assert "password" in missing.lower() or "passphrase" in missing.lower(), missing
    assert http.get(f"/live/{stream['id']}/master.m3u8").status_code == 404
    assert PASSPHRASE not in media_node.log()
    publisher = srt_push(url + f"&passphrase={PASSPHRASE}&pbkeylen=16", seconds=8)
    try:
        playing(http, stream["id"], (320, 240))
    finally:
        publisher.kill()
        publisher.wait()
    assert last_msn(http, live_stream["id"]) > before, "the RTMP stream stopped meanwhile"


def test_unknown_or_malformed_streamid_and_wrong_token_refused(media_node, new_stream):
    stream = new_stream()
    for streamid in ("in/987654/abc", "nothing-here", f"other/{stream['id']}/{stream['token']}"):
        refusal(srt_push(srt_url(media_node, streamid), seconds=3))
    refusal(srt_push(srt_url(media_node, f"in/{stream['id']}/{'f' * 32}"), seconds=3))
    wait_for(lambda: "refused (1404)" in media_node.log(), what="not-found refusal logged")
    wait_for(lambda: f"wrong token for stream {stream['id']}" in media_node.log(), what="token refusal logged")
    assert "f" * 32 not in media_node.log()


def test_rtmp_and_srt_on_the_same_slot_second_refused(media_node, http, live_stream):
    before = last_msn(http, live_stream["id"])
    url = live_stream["push_url_srt"]
    refusal(srt_push(url, seconds=3))
    wait_for(lambda: "refused (1409)" in media_node.log(), what="conflict logged")
    wait_for(lambda: last_msn(http, live_stream["id"]) >= before + 2, what="the RTMP publisher to go on")


def test_srt_first_then_rtmp_to_the_same_slot_refused(media_node, http, new_stream):
    stream = new_stream()
    publisher = srt_push(stream["push_url_srt"], seconds=20)
    try:
        wait_for(lambda: fetch_ok(http, f"/live/{stream['id']}/origin/index.m3u8"), what="playlist")
        second = ffmpeg_publish(stream["push_url"], seconds=3)
        assert second.wait(timeout=20) != 0
        assert f"stream {stream['id']} already has a main publisher" in media_node.log()
        assert publisher.poll() is None, "the SRT publisher was dropped"
    finally:
        publisher.kill()
        publisher.wait()


def test_random_datagrams_on_the_srt_port_leave_everything_running(media_node, http, new_stream, live_stream):
    before = last_msn(http, live_stream["id"])
    generator = random.Random(5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(3000):
            size = generator.choice((1, 4, 16, 64, 1316, 1500))
            payload = bytearray(os.urandom(size))
            if i % 3 == 0 and size >= 16:
                payload[0] |= 0x80  # looks like a control packet (e.g. a handshake)
            sock.sendto(bytes(payload), ("127.0.0.1", media_node.srt_port))
            if i % 100 == 0:
                time.sleep(0.01)
    wait_for(lambda: last_msn(http, live_stream["id"]) >= before + 2, what="the RTMP stream to go on")
    assert http.get("/health").status_code == 200
    assert "Traceback" not in media_node.log()
    stream = new_stream()
    publisher = srt_push(stream["push_url_srt"], seconds=6)
    try:  # the listener still takes callers
        wait_for(lambda: fetch_ok(http, f"/live/{stream['id']}/origin/index.m3u8"), what="SRT playlist")
    finally:
        publisher.kill()
        publisher.wait()


def test_deactivating_drops_the_srt_publisher(media_node, http, new_stream):
    stream = new_stream()
    publisher = srt_push(stream["push_url_srt"], seconds=60)
    try:
        wait_for(lambda: fetch_ok(http, f"/live/{stream['id']}/master.m3u8"), what="playlist")
        http.patch(f"/streaming/streams/{stream['id']}", json={"stream": {"active": False}})
        assert publisher.wait(timeout=20) != 0  # its connection was closed by the node
        wait_for(lambda: http.get(f"/streaming/streams/{stream['id']}").json()["live"] is False, what="live=false")
    finally:
        publisher.kill()
        publisher.wait()
