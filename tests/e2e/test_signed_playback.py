"""Signed playback end to end: a node with HEADWATER_PLAYBACK_SECRET, a stream pushed with
ffmpeg, played through the signed URLs the API (the official SDK) hands out by hls.js and
dash.js in Chromium and by ffmpeg; unsigned, expired, forged and foreign URLs get 403."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from gcore import Gcore
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from server.db.engine import sync_url
from server.db.models import Video
from server.delivery.playback_tokens import PlaybackTokens
from tests.e2e.conftest import wait_for
from tests.support import browser
from tests.support.node import Node
from tests.support.players import browser_play, ffmpeg_read
from tests.support.publisher import ffmpeg_publish

SECRET = "e2e-playback-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def signed_node(tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("signed-node"), env={"HEADWATER_PLAYBACK_SECRET": SECRET}).start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def client(signed_node) -> Gcore:
    return Gcore(api_key=signed_node.api_key, base_url=signed_node.base_url, max_retries=0)


@pytest.fixture(scope="module")
def broadcast(signed_node, client):
    """A stream live for the module, with the signed URLs the API gave for it."""
    stream = client.streaming.streams.create(name="signed")
    publisher = ffmpeg_publish(stream.push_url, seconds=180, size="320x240", gop=25)  # killed at the end
    try:
        wait_for(lambda: httpx.get(stream.dash_url).status_code == 200, timeout=30, what="the signed MPD")
        wait_for(lambda: httpx.get(stream.hls_cmaf_url).status_code == 200, timeout=30, what="the signed master")
        yield stream
    finally:
        publisher.kill()
        publisher.wait()


def test_the_api_hands_out_signed_urls_with_one_token_per_stream(broadcast, client):
    again = client.streaming.streams.get(broadcast.id)
    listed = next(s for s in client.streaming.streams.list() if s.id == broadcast.id)
    prefix = f"/live/{broadcast.id}/t/"
    for stream in (broadcast, again, listed):
        for url in (stream.hls_cmaf_url, stream.hls_mpegts_url, stream.dash_url):
            assert prefix in url, url
        token = stream.hls_cmaf_url.split(f"/live/{broadcast.id}/")[1].removesuffix("/master.m3u8")
        assert stream.iframe_url.endswith(f"/player/{broadcast.id}/{token}")
        expires = int(token.split("/")[1])
        assert time.time() + 86400 <= expires <= time.time() + 86400 + 3600  # the default ttl, rounded up


def test_hls_js_and_dash_js_play_the_signed_urls(broadcast):
    for engine, url in (("hls.js", broadcast.hls_cmaf_url), ("dash.js", broadcast.dash_url)):
        playback = browser_play(engine, url, seconds=4)
        assert playback.end["errors"] == [], (engine, playback.end)
        assert playback.played > 2, (engine, playback.start, playback.end)


def test_ffmpeg_reads_the_signed_hls_urls(broadcast):
    for url in (broadcast.hls_cmaf_url, broadcast.hls_mpegts_url):
        decoded = ffmpeg_read(url, seconds=3)
        assert len(decoded.times) >= 50 and decoded.monotonic, (url, decoded)  # 25 fps


def test_the_player_page_plays_through_its_own_token(broadcast):
    page = httpx.get(broadcast.iframe_url)
    assert page.status_code == 200
    signed_master = broadcast.hls_cmaf_url.split(":", 2)[2].split("/", 1)[1]  # the path, from the host on
    assert f'"/{signed_master}"' in page.text
    assert httpx.get(broadcast.iframe_url.rsplit("/t/", 1)[0]).status_code == 403


def test_the_player_page_says_when_its_token_has_expired(signed_node, client):
    """Offline at first (nothing pushed), retrying; once its token expires the master answers
    403 and the page says so instead of waiting for a broadcast."""
    stream = client.streaming.streams.create(name="expiring")
    with browser.chromium_page() as tab:
        expires = int(time.time()) + 3  # (once the browser is up)
        token = PlaybackTokens(SECRET.encode(), 60).token_until(f"/live/{stream.id}/", expires)
        tab.goto(f"{signed_node.base_url}/player/{stream.id}/{token[:-1]}")
        state = "window.headwaterPlayer.state"
        offline = browser.watch(tab, state, lambda s: s.startswith("offline"), timeout=10)
        refused = browser.watch(tab, state, lambda s: "expired" in s, timeout=15)
    assert offline.startswith("offline"), offline
    assert refused == "this playback link has expired or is not valid", refused


def test_unsigned_expired_forged_and_foreign_urls_get_403(signed_node, client, broadcast):
    other = client.streaming.streams.create(name="another")
    base = f"{signed_node.base_url}/live/{broadcast.id}"
    expired = PlaybackTokens(SECRET.encode(), 60).token_until(f"/live/{broadcast.id}/", int(time.time()) - 5)
    foreign = other.hls_cmaf_url.replace(f"/live/{other.id}/", f"/live/{broadcast.id}/")
    signature = broadcast.hls_cmaf_url.split("/")[-2]
    forged = broadcast.hls_cmaf_url.replace(signature, signature[::-1])
    refused = {
        f"{base}/master.m3u8": "playback token required",
        f"{base}/origin/index.m3u8": "playback token required",
        f"{base}/screenshot.jpg": "playback token required",
        f"{base}/{expired}master.m3u8": "playback token expired",
        foreign: "invalid playback token",
        forged: "invalid playback token",
    }
    for url, reason in refused.items():
        response = httpx.get(url)
        assert (response.status_code, response.text.strip()) == (403, reason), url
    wait_for(lambda: client.streaming.streams.get(broadcast.id).screenshot, timeout=20, what="a screenshot")
    shot = httpx.get(client.streaming.streams.get(broadcast.id).screenshot)
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/jpeg"


def test_a_videos_urls_are_signed_for_its_own_prefix(signed_node, client):
    """A ready video's URLs (a row as the recorder writes it, without media): signed URLs pass
    the check (and find no recording: 404), the same URLs without the token get 403; its
    player page loads the video through the page's token."""
    engine = create_engine(sync_url(signed_node.database_url))
    with Session(engine) as db:
        video = Video(
            name="signed video",
            status="ready",
            duration=4000,
            recording_key="k" * 32,
            recording_started_at=datetime.now(UTC),
        )
        db.add(video)
        db.commit()
        video_id = video.id
    engine.dispose()
    found = client.streaming.videos.get(video_id)
    prefix = f"/videos/{video_id}_{'k' * 32}/t/"
    for url in (found.hls_url, found.dash_url, found.origin_url):
        assert prefix in url, url
        assert httpx.get(url).status_code == 404  # past the token: no such recording here
        assert httpx.get(url.split("/t/")[0] + "/" + url.rsplit("/", 1)[1]).status_code == 403
    token = found.hls_url.split(prefix)[1].removesuffix("/master.m3u8")
    assert found.iframe_url.endswith(f"/player/videos/{video_id}_{'k' * 32}/t/{token}")
    page = httpx.get(found.iframe_url)
    assert page.status_code == 200 and f'"{prefix}{token}/master.m3u8"' in page.text
    assert httpx.get(found.iframe_url.split("/t/")[0]).status_code == 403
