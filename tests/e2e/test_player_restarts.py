"""The built-in player in Chromium keeps playing across what restarts a stream's worker: a
worker crash (the new outputs go on after a discontinuity, a new init segment and a new DASH
Period, while hls.js and dash.js keep reloading) and an encoder that reconnects (the old
playlists end; the player goes offline and comes back to the new ones)."""

from __future__ import annotations

import os
import signal

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.test_player import watch
from tests.support.browser import chromium_page
from tests.support.publisher import ffmpeg_publish

PLAYED_ON = 4.0  # seconds of playback after the restart that count as "it goes on"


@pytest.mark.parametrize("engine", ["hls", "dash"])
def test_the_player_plays_on_across_a_worker_crash(media_node, new_stream, engine):
    stream = new_stream(name=f"crash {engine}")
    publisher = ffmpeg_publish(stream["push_url"], seconds=60)
    try:
        with chromium_page() as tab:
            tab.goto(stream["iframe_url"] + ("" if engine == "hls" else "?engine=dash"))
            playing = watch(tab, lambda s: s["state"] == "playing" and s["t"] > 2, timeout=30)
            assert playing["t"] > 2, playing
            pid = media_node.worker_pid(stream["id"])
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: (p := media_node.worker_pid(stream["id"])) and p != pid, what="a new worker")
            at_crash = tab.evaluate("document.getElementById('video').currentTime")
            after = watch(tab, lambda s: s["state"] == "playing" and s["t"] > at_crash + PLAYED_ON, timeout=30)
    finally:
        publisher.kill()
        publisher.wait()
    assert after["t"] > at_crash + PLAYED_ON and after["state"] == "playing", after
    assert after["engine"] == engine and after["errors"] == [], after


def test_the_player_comes_back_after_the_encoder_reconnects(new_stream):
    stream = new_stream(name="reconnect")
    publisher = ffmpeg_publish(stream["push_url"], seconds=60)
    try:
        with chromium_page() as tab:
            tab.goto(stream["iframe_url"])
            playing = watch(tab, lambda s: s["state"] == "playing" and s["t"] > 2, timeout=30)
            assert playing["t"] > 2, playing
            publisher.terminate()  # the encoder closes its connection, then comes back
            publisher.wait(timeout=10)
            publisher = ffmpeg_publish(stream["push_url"], seconds=60)
            gone = watch(tab, lambda s: s["state"] != "playing", timeout=30)
            back = watch(tab, lambda s: s["state"] == "playing" and s["t"] > PLAYED_ON, timeout=40)
    finally:
        publisher.kill()
        publisher.wait()
    assert gone["state"] != "playing", gone  # the old broadcast ended (ENDLIST)
    assert back["state"] == "playing" and back["t"] > PLAYED_ON, back
    assert back["errors"] == [], back  # every track read the end, none an error or an empty playlist
