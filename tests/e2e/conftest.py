"""End-to-end fixtures: a real node, real publishers, and HTTP reads as a player makes them.

Nodes run on SQLite; a test marked `both_databases` runs once more on a node backed by a real
PostgreSQL (the database `docker compose` runs), so what the media path writes to the database
(live status, failover flags, pulls, the status fields a worker reports) is checked on both.
Only a representative subset is marked: every e2e test twice would double the suite's time.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

NODE_FIXTURES = ("media_node", "pull_node")  # module-scoped nodes a test module shares


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test on a shared node names its database in its id (`[sqlite]`); a test marked
    `both_databases` gets a `[postgresql]` run too, on a node of its own per module."""
    backends = BACKENDS if metafunc.definition.get_closest_marker("both_databases") else ["sqlite"]
    for name in NODE_FIXTURES:
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, backends, indirect=True, scope="module")


def node_database_url(request: pytest.FixtureRequest) -> str | None:
    """The database URL for a node fixture's `request.param` backend (None: the node's own SQLite)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_server").create_database()
    return None


@pytest.fixture(scope="module")
def media_node(request, tmp_path_factory):
    backend = getattr(request, "param", "sqlite")
    node = Node(tmp_path_factory.mktemp(f"media-node-{backend}"), database_url=node_database_url(request)).start()
    yield node
    node.stop()


@pytest.fixture
def http(media_node):
    with httpx.Client(base_url=media_node.base_url, headers=media_node.headers, timeout=15) as c:
        yield c


@pytest.fixture
def new_stream(http):
    def create(**fields) -> dict:
        response = http.post("/streaming/streams", json={"name": "e2e", **fields})
        assert response.status_code == 201, response.text
        return response.json()

    return create


def wait_for(check, timeout: float = 20, interval: float = 0.1, what: str = "condition"):
    """Polls `check()` until it returns something truthy; the test's own clock, not the node's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def fetch_ok(client: httpx.Client, url: str):
    response = client.get(url)
    return response if response.status_code == 200 else None


@pytest.fixture
def live_stream(media_node, http, new_stream):
    """A stream with a healthy RTMP publisher that keeps going through each test."""
    stream = new_stream()
    publisher = ffmpeg_publish(stream["push_url"], seconds=60)
    wait_for(lambda: fetch_ok(http, f"/live/{stream['id']}/origin/index.m3u8"), what="playlist")
    yield stream
    publisher.kill()
    publisher.wait()


def last_msn(http, stream_id: int) -> int:
    """The newest complete segment of the stream's origin playlist (-1 before any)."""
    text = http.get(f"/live/{stream_id}/origin/index.m3u8").text
    playlist = parse_media_playlist(text)
    return playlist.segments[-1].msn if playlist.segments else -1
