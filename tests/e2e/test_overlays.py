"""HTML overlays end to end: a real node rendering pages the test serves on 127.0.0.1 into a
live RTMP stream. The LL-HLS origin is decoded as a player gets it: the box's colour inside the
overlay's rectangle, the test pattern around it; the overlay moved through the API moves in the
picture; html_overlay switched off gives the plain picture back, all without dropping the
publisher. A `stretch` page lands scaled on the whole frame, a page that answers 404 draws
nothing and leaves the stream live, and a page that changes shows its change. A pulled stream
gets its overlays as a pushed one does, and so does a browser's WHIP publication. A
`transcoded` recording shows the overlay."""

from __future__ import annotations

import asyncio
import io
import logging
import time

import av
import httpx
import numpy as np
import pytest

from tests.e2e.conftest import wait_for
from tests.support import browser
from tests.support.browser import chromium_available, chromium_page
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.overlay_pages import OverlayPages, box_page
from tests.support.publisher import ffmpeg_publish
from tests.support.sources import HttpDirectory, hls_writer
from tests.support.whip_client import WhipPublisher

pytestmark = pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium")

RED_601 = (81, 90, 240)  # Y, U, V of rgb(255, 0, 0) in BT.601 limited range (a 360p source)
GREEN_601 = (145, 54, 34)
BLUE_601 = (41, 240, 110)
FIRST = (64, 48, 96, 64)  # x, y, width, height
MOVED = (400, 240, 96, 64)


@pytest.fixture(scope="module")
def media_node(tmp_path_factory):
    env = {
        "HEADWATER_OVERLAY_ALLOW_PRIVATE": "1",
        "HEADWATER_WHIP_ICE_LOOPBACK": "true",
        "HEADWATER_RECORDING_GRACE": "1",
    }
    node = Node(tmp_path_factory.mktemp("overlay-node"), env=env).start()
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
    return [
        np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[: p.height, : p.width].copy() for p in decoded[-1].planes
    ]


def red_at(planes: list[np.ndarray] | None, x: int, y: int, width: int, height: int, margin: int = 6) -> bool:
    return colour_at(planes, RED_601, x, y, width, height, margin)


def colour_at(
    planes: list[np.ndarray] | None,
    colour: tuple[int, int, int],
    x: int,
    y: int,
    width: int,
    height: int,
    margin: int = 6,
) -> bool:
    """The rectangle's inside (less a margin for the encoder's blur) has `colour` (Y, U, V)."""
    if planes is None:
        return False
    inner = (slice(y + margin, y + height - margin), slice(x + margin, x + width - margin))
    chroma = (slice(inner[0].start // 2, inner[0].stop // 2), slice(inner[1].start // 2, inner[1].stop // 2))
    means = (planes[0][inner].mean(), planes[1][chroma].mean(), planes[2][chroma].mean())
    return all(abs(float(mean) - want) < 8 for mean, want in zip(means, colour))


def test_an_overlay_is_burned_in_moved_live_and_switched_off(http, new_stream, pages, media_node):
    stream = new_stream(name="overlay", html_overlay=True)
    stream_id = stream["id"]
    x, y, width, height = FIRST
    created = http.post(
        f"/streaming/streams/{stream_id}/overlays",
        json=[{"url": pages.url("/red.html"), "x": x, "y": y, "width": width, "height": height}],
    )
    assert created.status_code == 201, created.text
    overlay_id = created.json()[0]["id"]
    publisher = ffmpeg_publish(stream["push_url"], seconds=90, size="640x360", rate=25, gop=25)
    try:
        planes = wait_for(
            lambda: (p := live_edge(http, stream_id)) is not None and red_at(p, *FIRST) and p,
            timeout=60,
            interval=0.5,
            what="the red box in the origin",
        )
        assert planes[0].shape == (360, 640)  # the origin keeps the source's size
        # around it, the test pattern: neither red nor one flat colour
        right_of_box = planes[0][y : y + height, x + width + 8 : x + width + 200]
        assert not red_at(planes, x + width + 8, y, width, height) and right_of_box.std() > 10

        changed = http.patch(
            f"/streaming/streams/{stream_id}/overlays/{overlay_id}", json={"x": MOVED[0], "y": MOVED[1]}
        )
        assert changed.status_code == 200, changed.text
        wait_for(
            lambda: (p := live_edge(http, stream_id)) is not None and red_at(p, *MOVED) and not red_at(p, *FIRST),
            timeout=30,
            interval=0.5,
            what="the box at its new place",
        )

        off = http.patch(f"/streaming/streams/{stream_id}", json={"stream": {"html_overlay": False}})
        assert off.status_code == 200, off.text
        wait_for(
            lambda: (p := live_edge(http, stream_id)) is not None and not red_at(p, *MOVED),
            timeout=40,
            interval=0.5,
            what="the picture without the overlay",
        )
        assert publisher.poll() is None, "the publisher was dropped"
        assert http.get(f"/streaming/streams/{stream_id}").json()["live"]
    finally:
        publisher.kill()
        publisher.wait()


CORNER = """<!doctype html><html><body style="margin:0;background:transparent">
<div style="position:absolute;left:1500px;top:60px;width:300px;height:180px;background:rgb(0,255,0)"></div>
</body></html>"""  # on a 1920x1080 page; stretched onto 640x360: (500, 20, 100, 60)
POLLING = """<!doctype html><html><body style="margin:0;background:transparent">
<div id="b" style="width:100%;height:100vh"></div>
<script>setInterval(async () => {
  document.getElementById("b").style.background = await (await fetch("/colour")).text();
}, 200)</script></body></html>"""


def test_stretch_a_failing_page_and_a_page_that_changes(http, new_stream, pages):
    pages.pages["/corner.html"] = CORNER
    pages.pages["/poll.html"] = POLLING
    pages.pages["/colour"] = "rgb(255, 0, 0)"
    stream = new_stream(name="overlays", html_overlay=True)
    stream_id = stream["id"]
    created = http.post(
        f"/streaming/streams/{stream_id}/overlays",
        json=[
            {"url": pages.url("/corner.html"), "stretch": True},
            {"url": pages.url("/missing"), "x": 300, "y": 100, "width": 96, "height": 64},
            {"url": pages.url("/poll.html"), "x": 64, "y": 200, "width": 96, "height": 64},
        ],
    )
    assert created.status_code == 201, created.text
    publisher = ffmpeg_publish(stream["push_url"], seconds=90, size="640x360", rate=25, gop=25)
    try:
        planes = wait_for(
            lambda: (
                (p := live_edge(http, stream_id)) is not None
                and colour_at(p, GREEN_601, 500, 20, 100, 60)
                and red_at(p, 64, 200, 96, 64)
                and p
            ),
            timeout=60,
            interval=0.5,
            what="the stretched corner box and the polling page",
        )
        missing = planes[0][100:164, 300:396]
        assert missing.std() > 10  # the 404 page drew nothing: the test pattern is there
        changed = time.monotonic()
        pages.pages["/colour"] = "rgb(0, 0, 255)"
        wait_for(
            lambda: colour_at(live_edge(http, stream_id), BLUE_601, 64, 200, 96, 64),
            timeout=30,
            interval=0.25,
            what="the page's change in the output",
        )
        # a figure for the record (bench/ measures it properly), not an assertion
        logging.getLogger(__name__).info(
            "page change visible in the LL-HLS origin after %.1f s", time.monotonic() - changed
        )
        assert publisher.poll() is None and http.get(f"/streaming/streams/{stream_id}").json()["live"]
    finally:
        publisher.kill()
        publisher.wait()


PLAYER = (
    "({...window.headwaterPlayer, t: document.getElementById('video').currentTime,"
    " width: document.getElementById('video').videoWidth})"
)


def test_the_overlaid_stream_plays_in_the_built_in_player(http, new_stream, pages):
    stream = new_stream(name="overlay player", html_overlay=True)
    created = http.post(
        f"/streaming/streams/{stream['id']}/overlays",
        json=[{"url": pages.url("/red.html"), "x": 64, "y": 48, "width": 96, "height": 64}],
    )
    assert created.status_code == 201, created.text
    publisher = ffmpeg_publish(stream["push_url"], seconds=60, size="640x360", rate=25, gop=25)
    try:
        wait_for(
            lambda: red_at(live_edge(http, stream["id"]), *FIRST),
            timeout=60,
            interval=0.5,
            what="the overlay in the origin",
        )
        with chromium_page() as tab:
            tab.goto(stream["iframe_url"])
            started = browser.watch(tab, PLAYER, lambda s: s["t"] > 0, timeout=30)
            assert started["t"] > 0, started
            playing = browser.watch(tab, PLAYER, lambda s: s["t"] > started["t"] + 4, timeout=20)
        assert playing["t"] > started["t"] + 4 and playing["width"] > 0, playing
    finally:
        publisher.kill()
        publisher.wait()


def test_a_pulled_stream_is_overlaid_and_switched_off_live(http, new_stream, pages, media_node, tmp_path):
    """Overlays belong to the stream, whatever feeds it: a pulled HLS source shows the box, and
    html_overlay switched off replaces the pull worker at once (not counted as a failure): the
    plain picture comes back and the stream stays live."""
    hls_dir = tmp_path / "hls"
    source = hls_writer(hls_dir, seconds=120, size="640x360")
    try:
        with HttpDirectory(hls_dir) as web:
            wait_for(lambda: (hls_dir / "index.m3u8").exists(), what="HLS source playlist")
            stream = new_stream(name="pulled overlay", html_overlay=True, pull=True, uri=web.url("index.m3u8"))
            stream_id = stream["id"]
            created = http.post(
                f"/streaming/streams/{stream_id}/overlays",
                json=[{"url": pages.url("/red.html"), "x": FIRST[0], "y": FIRST[1], "width": 96, "height": 64}],
            )
            assert created.status_code == 201, created.text
            planes = wait_for(
                lambda: (p := live_edge(http, stream_id)) is not None and red_at(p, *FIRST) and p,
                timeout=60,
                interval=0.5,
                what="the red box in the pulled stream's origin",
            )
            assert planes[0].shape == (360, 640)

            off = http.patch(f"/streaming/streams/{stream_id}", json={"stream": {"html_overlay": False}})
            assert off.status_code == 200, off.text
            wait_for(
                lambda: (p := live_edge(http, stream_id)) is not None and not red_at(p, *FIRST),
                timeout=40,
                interval=0.5,
                what="the pulled picture without the overlay",
            )
            assert http.get(f"/streaming/streams/{stream_id}").json()["live"]
    finally:
        source.kill()
        source.wait()
    log = media_node.log()
    assert f"stream {stream_id}: html_overlay off; a new worker follows" in log
    assert f"stream {stream_id}: pull worker exited" not in log


def test_a_whip_publication_gets_its_overlay(http, new_stream, pages):
    """The worker of a WHIP session runs the peer and composites like any other."""
    stream = new_stream(name="whip overlay", html_overlay=True)
    box = (16, 16, 48, 32)  # on aiortc's 160x120 pattern
    created = http.post(
        f"/streaming/streams/{stream['id']}/overlays",
        json=[{"url": pages.url("/red.html"), "x": box[0], "y": box[1], "width": box[2], "height": box[3]}],
    )
    assert created.status_code == 201, created.text

    async def publish_and_watch() -> list[np.ndarray]:
        publisher = WhipPublisher(stream["push_url_whip"], stream["token"])
        try:
            answer = await publisher.publish()
            assert answer.status_code == 201, answer.text
            return await asyncio.to_thread(
                wait_for,
                lambda: (p := live_edge(http, stream["id"])) is not None and red_at(p, *box, margin=4) and p,
                60,
                0.5,
                "the red box in the WHIP stream's origin",
            )
        finally:
            await publisher.stop()

    planes = asyncio.run(publish_and_watch())
    assert planes[0].shape == (120, 160)
    assert not red_at(planes, 100, 60, 48, 32, margin=4)  # the pattern, not the box, elsewhere


def test_a_transcoded_recording_shows_the_overlay(http, new_stream, pages):
    stream = new_stream(name="recorded overlay", html_overlay=True, auto_record=True, record_type="transcoded")
    created = http.post(
        f"/streaming/streams/{stream['id']}/overlays",
        json=[{"url": pages.url("/red.html"), "x": FIRST[0], "y": FIRST[1], "width": FIRST[2], "height": FIRST[3]}],
    )
    assert created.status_code == 201, created.text
    publisher = ffmpeg_publish(stream["push_url"], seconds=90, size="640x360", rate=25, gop=25)
    try:
        wait_for(lambda: red_at(live_edge(http, stream["id"]), *FIRST), timeout=60, interval=0.5, what="the box on air")
        time.sleep(2.5)  # a few seconds with the box, recorded
    finally:
        publisher.kill()
        publisher.wait()
    video = wait_for(
        lambda: next(
            (
                v
                for v in http.get("/streaming/videos", params={"stream_id": stream["id"]}).json()
                if v["status"] == "ready"
            ),
            None,
        ),
        timeout=60,
        interval=0.5,
        what="the recording's ready video",
    )
    assert video["record_type"] == "transcoded"
    with av.open(video["origin_url"]) as container:
        last = list(container.decode(video=0))[-1]
    planes = [np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[: p.height, : p.width] for p in last.planes]
    assert planes[0].shape == (360, 640)
    assert red_at(planes, *FIRST)
