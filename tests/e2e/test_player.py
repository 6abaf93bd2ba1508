"""The built-in player at `iframe_url`: offline while nothing is pushed, then plays in Chromium."""

from __future__ import annotations

import httpx
import pytest

from tests.support import browser
from tests.support.browser import chromium_page
from tests.support.publisher import ffmpeg_publish

STATE = (
    "({...window.headwaterPlayer, t: document.getElementById('video').currentTime,"
    " width: document.getElementById('video').videoWidth,"
    " status: document.getElementById('status').hidden ? '' : document.getElementById('status').textContent})"
)


def test_unknown_stream_has_no_player_page(media_node):
    assert httpx.get(f"{media_node.base_url}/player/999999").status_code == 404
    assert httpx.get(f"{media_node.base_url}/player/assets/nothing.js").status_code == 404


def test_page_is_public_embeddable_and_serves_its_own_players(new_stream, media_node):
    stream = new_stream(name="</title><script>alert(1)</script>")
    page = httpx.get(stream["iframe_url"])  # no API key: viewers have none
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "x-frame-options" not in page.headers
    assert "frame-ancestors *" in page.headers["content-security-policy"]
    assert "<script>alert(1)" not in page.text
    for asset in ("hls.min.js", "dash.all.min.js", "player.js"):
        assert f'src="/player/assets/{asset}"' in page.text
        response = httpx.get(f"{media_node.base_url}/player/assets/{asset}")
        assert response.status_code == 200 and len(response.content) > 1000, asset
        assert response.headers["content-type"].startswith("text/javascript")
    assert "//cdn" not in page.text and "https://" not in page.text


def watch(tab, until, timeout: float) -> dict:
    return browser.watch(tab, STATE, until, timeout)


@pytest.mark.parametrize("engine", ["hls", "dash"])
def test_player_waits_offline_then_plays_the_broadcast(new_stream, engine):
    stream = new_stream(name=f"player {engine}")
    with chromium_page() as tab:
        query = "" if engine == "hls" else "?engine=dash"
        tab.goto(stream["iframe_url"] + query)
        offline = watch(tab, lambda s: s["state"].startswith("offline"), timeout=10)
        assert offline["status"].startswith("Offline"), offline
        publisher = ffmpeg_publish(stream["push_url"], seconds=40)
        try:
            started = watch(tab, lambda s: s["t"] > 0, timeout=25)
            assert started["t"] > 0, started
            # past the first MPD's or playlist's end: the player keeps reloading it
            playing = watch(tab, lambda s: s["t"] > started["t"] + 8, timeout=20)
        finally:
            publisher.kill()
            publisher.wait()
    assert playing["engine"] == engine
    assert playing["t"] > started["t"] + 8, playing  # playback advanced with the live edge
    assert playing["width"] == 320
    assert playing["status"] == "" and playing["state"] == "playing", playing
