"""HTML overlays end to end: a real node rendering a page the test serves on 127.0.0.1 (a solid
red box) into a live RTMP stream. The LL-HLS origin is decoded as a player gets it: red inside
the overlay's rectangle, the test pattern around it; the overlay moved through the API moves
in the picture; html_overlay switched off gives the plain picture back, all without dropping
the publisher."""

from __future__ import annotations

import io

import av
import httpx
import numpy as np
import pytest

from tests.e2e.conftest import wait_for
from tests.support.browser import chromium_available
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.overlay_pages import OverlayPages, box_page
from tests.support.publisher import ffmpeg_publish

pytestmark = pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium")

RED_601 = (81, 90, 240)  # Y, U, V of rgb(255, 0, 0) in BT.601 limited range (a 360p source)
FIRST = (64, 48, 96, 64)  # x, y, width, height
MOVED = (400, 240, 96, 64)


@pytest.fixture(scope="module")
def media_node(tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("overlay-node"), env={"HEADWATER_OVERLAY_ALLOW_PRIVATE": "1"}).start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def pages():
    with OverlayPages() as server:
        server.pages["/red.html"] = box_page("rgb(255, 0, 0)")
        yield server


def live_edge(http: httpx.Client, stream_id: int) -> list[np.ndarray] | None:
    """The Y, U, V planes of the last frame of the newest complete origin segment."""
    response = http.get(f"/live/{stream_id}/origin/index.m3u8")
    if response.status_code != 200:
        return None
    segments = parse_media_playlist(response.text).segments
    if not segments:
        return None
    segment = segments[-1]
    init = http.get(f"/live/{stream_id}/origin/{segment.map_uri}")
    media = http.get(f"/live/{stream_id}/origin/{segment.uri}")
    if init.status_code != 200 or media.status_code != 200:  # e.g. a gap across a worker change
        return None
    with av.open(io.BytesIO(init.content + media.content)) as container:
        decoded = list(container.decode(video=0))
    if not decoded:
        return None
    return [np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:p.height, :p.width].copy()
            for p in decoded[-1].planes]


def red_at(planes: list[np.ndarray] | None, x: int, y: int, width: int, height: int, margin: int = 6) -> bool:
    if planes is None:
        return False
    inner = (slice(y + margin, y + height - margin), slice(x + margin, x + width - margin))
    chroma = (slice(inner[0].start // 2, inner[0].stop // 2), slice(inner[1].start // 2, inner[1].stop // 2))
    means = (planes[0][inner].mean(), planes[1][chroma].mean(), planes[2][chroma].mean())
    return all(abs(float(mean) - want) < 8 for mean, want in zip(means, RED_601))


def test_an_overlay_is_burned_in_moved_live_and_switched_off(http, new_stream, pages, media_node):
    stream = new_stream(name="overlay", html_overlay=True)
    stream_id = stream["id"]
    x, y, width, height = FIRST
    created = http.post(f"/streaming/streams/{stream_id}/overlays",
                        json=[{"url": pages.url("/red.html"), "x": x, "y": y, "width": width, "height": height}])
    assert created.status_code == 201, created.text
    overlay_id = created.json()[0]["id"]
    publisher = ffmpeg_publish(stream["push_url"], seconds=90, size="640x360", rate=25, gop=25)
    try:
        planes = wait_for(lambda: (p := live_edge(http, stream_id)) is not None and red_at(p, *FIRST) and p,
                          timeout=60, interval=0.5, what="the red box in the origin")
        assert planes[0].shape == (360, 640)  # the origin keeps the source's size
        # around it, the test pattern: neither red nor one flat colour
        right_of_box = planes[0][y:y + height, x + width + 8:x + width + 200]
        assert not red_at(planes, x + width + 8, y, width, height) and right_of_box.std() > 10

        changed = http.patch(f"/streaming/streams/{stream_id}/overlays/{overlay_id}",
                             json={"x": MOVED[0], "y": MOVED[1]})
        assert changed.status_code == 200, changed.text
        wait_for(lambda: (p := live_edge(http, stream_id)) is not None and red_at(p, *MOVED)
                 and not red_at(p, *FIRST), timeout=30, interval=0.5, what="the box at its new place")

        off = http.patch(f"/streaming/streams/{stream_id}", json={"stream": {"html_overlay": False}})
        assert off.status_code == 200, off.text
        wait_for(lambda: (p := live_edge(http, stream_id)) is not None and not red_at(p, *MOVED),
                 timeout=40, interval=0.5, what="the picture without the overlay")
        assert publisher.poll() is None, "the publisher was dropped"
        assert http.get(f"/streaming/streams/{stream_id}").json()["live"]
    finally:
        publisher.kill()
        publisher.wait()
