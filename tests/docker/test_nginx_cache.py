"""`docker/nginx-cache.conf` in front of a node (the real nginx, the repository's template):
a live segment and a part fetched twice are a cache hit the second time, with the node's
bytes; playlists (blocking reloads too) go through uncached."""

from __future__ import annotations

from urllib.parse import urljoin

import httpx
import pytest

from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.nginx_cache import NginxCache
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("cached-node")).start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def nginx(node):
    cache = NginxCache([f"127.0.0.1:{node.http_port}"]).start()
    yield cache
    cache.stop()


def test_segments_and_parts_are_cached_and_playlists_are_not(node, nginx):
    stream = httpx.post(f"{node.base_url}/streaming/streams", json={"name": "cached"}, headers=node.headers).json()
    publisher = ffmpeg_publish(stream["push_url"], seconds=60)
    master_url = f"{nginx.base_url}/live/{stream['id']}/master.m3u8"
    try:
        master = wait_for(lambda: fetch_ok(httpx, master_url), what="live through nginx")
        assert "x-cache-status" not in master.headers
        media = urljoin(master_url, parse_master_playlist(master.text)[0][0].uri)
        playlist = wait_for(lambda: _with_segments(media, 2), what="two segments")
        assert "x-cache-status" not in httpx.get(media).headers

        segment = playlist.segments[-1]
        for uri in (segment.uri, segment.parts[0].uri if segment.parts else None):
            if uri is None:
                continue
            url = urljoin(media, uri)
            first, second = httpx.get(url), httpx.get(url)
            assert first.status_code == second.status_code == 200, url
            assert first.headers["x-cache-status"] == "MISS" and second.headers["x-cache-status"] == "HIT"
            assert second.content == first.content == httpx.get(url.replace(nginx.base_url, node.base_url)).content

        # a blocking reload for the next segment goes to the node and comes back with it
        following = segment.msn + 1
        blocked = httpx.get(media, params={"_HLS_msn": following, "_HLS_part": 0}, timeout=15)
        assert blocked.status_code == 200 and "x-cache-status" not in blocked.headers
        reloaded = parse_media_playlist(blocked.text)
        in_progress = reloaded.segments[-1].msn + 1 if reloaded.pending_parts else reloaded.segments[-1].msn
        assert in_progress >= following  # the playlist holds part 0 of that segment
        # the playlist moves on through nginx: it is never served from the cache
        wait_for(lambda: _with_segments(media, 1, after=following), timeout=20, what="a later playlist")
    finally:
        publisher.kill()
        publisher.wait()


def _with_segments(url: str, count: int, after: int = -1):
    response = httpx.get(url)
    if response.status_code != 200:
        return None
    playlist = parse_media_playlist(response.text)
    done = [segment for segment in playlist.segments if segment.msn > after]
    return playlist if len(done) >= count else None
