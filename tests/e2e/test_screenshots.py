"""Screenshots of a live stream, end to end: a real publisher, the worker's JPEGs, the node's
URL and the `screenshot` field read through the official SDK. The publisher sends a gray
picture that brightens steadily, so a screenshot's brightness says which moment it shows."""

from __future__ import annotations

import io

import av
import httpx
import pytest
from gcore import Gcore

from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

INTERVAL = 2  # the node's HEADWATER_SCREENSHOT_INTERVAL here (default 10)
RAMP = ["-vf", "eq=brightness='t/40-0.3':eval=frame"]  # luma climbs ~6 levels a second for 30 s


@pytest.fixture(scope="module")
def media_node(tmp_path_factory):
    node = Node(
        tmp_path_factory.mktemp("screenshot-node"), env={"HEADWATER_SCREENSHOT_INTERVAL": str(INTERVAL)}
    ).start()
    yield node
    node.stop()


@pytest.fixture
def sdk(media_node):
    return Gcore(api_key=media_node.api_key, base_url=media_node.base_url, max_retries=0)


def luma(jpeg: bytes) -> float:
    with av.open(io.BytesIO(jpeg)) as container:
        return next(container.decode(video=0)).to_ndarray(format="gray").mean()


def size(jpeg: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(jpeg)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def live_edge_luma(http: httpx.Client, stream_id: int) -> float:
    """The brightness of the newest complete origin segment's last frame, as a player gets it."""
    live = f"/live/{stream_id}/origin"
    segments = parse_media_playlist(http.get(f"{live}/index.m3u8").text).segments
    data = http.get(f"{live}/init.mp4").content + http.get(f"{live}/{segments[-1].uri}").content
    with av.open(io.BytesIO(data)) as container:
        *_, last = container.decode(video=0)
        return last.to_ndarray(format="gray").mean()


def test_a_live_stream_has_a_current_screenshot_that_outlives_it(http, new_stream, sdk):
    stream = new_stream(name="screenshots")
    assert sdk.streaming.streams.get(stream["id"]).screenshot is None  # none taken: no URL that 404s
    url = f"/live/{stream['id']}/screenshot.jpg"
    assert http.get(url).status_code == 404
    publisher = ffmpeg_publish(
        stream["push_url"], seconds=30, size="1920x1080", rate=10, gop=10, pattern="color=c=gray", extra=RAMP
    )
    try:
        first = wait_for(lambda: fetch_ok(http, url), timeout=30, what="a first screenshot")
        assert first.headers["content-type"] == "image/jpeg"
        assert size(first.content) == (1080, 608)  # 1920x1080 scaled to 1080 wide, aspect kept
        assert sdk.streaming.streams.get(stream["id"]).screenshot.endswith(url)
        second = wait_for(
            lambda: (r := fetch_ok(http, url)) and r.content != first.content and r,
            timeout=4 * INTERVAL + 10,
            what="a newer screenshot",
        )
        assert luma(second.content) > luma(first.content)  # a later moment: brighter
        # The current picture: no older than an interval and a segment behind the live edge.
        shot = http.get(url).content
        edge = live_edge_luma(http, stream["id"])
        assert abs(edge - luma(shot)) < 6 * (INTERVAL + 2 + 1), (edge, luma(shot))
    finally:
        publisher.kill()
        publisher.wait()
    wait_for(lambda: not http.get(f"/streaming/streams/{stream['id']}").json()["live"], what="the end")
    last = http.get(url)
    assert last.status_code == 200 and last.content[:2] == b"\xff\xd8"  # the last one stays
    assert sdk.streaming.streams.get(stream["id"]).screenshot is not None
    sdk.streaming.streams.delete(stream["id"])
    assert http.get(url).status_code == 404  # deleted with its stream
