"""How soon a change of an overlay's page shows in the LL-HLS output (issue 21: ≤ 3 s), next to
how soon a move through the API shows (the reference: the same path without the page, the
renderer's capture or its image's trip to the worker).

Run: python -m bench.overlay_latency [changes] [--smoke]. A real node (with
HEADWATER_OVERLAY_ALLOW_PRIVATE=1) and an RTMP publisher (640x360, 25 fps); the overlay page,
served on 127.0.0.1, paints itself in the colour its server says, asked every 100 ms. After
each change (the colour, or the overlay's `x` through the API), the newest LL-HLS parts of the
origin are read every 100 ms as a player gets them (init + the current segment's parts),
decoded, and the change is timed when the last frame shows it. Median and worst of `changes`.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import smoke
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.overlay_pages import OverlayPages
from tests.support.publisher import ffmpeg_publish

POLLING = """<!doctype html><html><body style="margin:0;background:transparent">
<div id="b" style="width:100%;height:100vh"></div>
<script>setInterval(async () => {
  document.getElementById("b").style.background = await (await fetch("/colour")).text();
}, 100)</script></body></html>"""
COLOURS = [("rgb(255, 0, 0)", (81, 90, 240)), ("rgb(0, 255, 0)", (145, 54, 34))]  # CSS, BT.601 Y, U, V
BOX = (96, 64)
PLACES = (64, 320)  # the two x positions the reference moves between (y = 48)
WAIT = 30.0


def live_picture(http: httpx.Client, stream_id: int) -> list[np.ndarray] | None:
    """The Y, U, V planes of the newest frame a player can get from the origin's LL-HLS parts."""
    response = http.get(f"/live/{stream_id}/origin/index.m3u8")
    if response.status_code != 200:
        return None
    playlist = parse_media_playlist(response.text)
    if not playlist.segments:
        return None
    parts = playlist.pending_parts or playlist.segments[-1].parts
    data = http.get(f"/live/{stream_id}/origin/{playlist.segments[-1].map_uri}").content
    for part in parts:
        data += http.get(f"/live/{stream_id}/origin/{part.uri}").content
    try:
        with av.open(io.BytesIO(data)) as container:
            frames = list(container.decode(video=0))
    except av.error.FFmpegError:
        return None
    if not frames:
        return None
    return [np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[: p.height, : p.width] for p in frames[-1].planes]


def shows(picture: list[np.ndarray] | None, x: int, want: tuple[int, int, int]) -> bool:
    """The box at `x` (y = 48) has the colour `want` (Y, U, V)."""
    if picture is None:
        return False
    top, left, bottom, right = 48 + 8, x + 8, 48 + BOX[1] - 8, x + BOX[0] - 8
    boxes = [(top, bottom, left, right), *[(top // 2, bottom // 2, left // 2, right // 2)] * 2]
    return all(
        abs(float(plane[t:b, x0:x1].mean()) - value) < 8 for plane, (t, b, x0, x1), value in zip(picture, boxes, want)
    )


def time_until(
    http: httpx.Client, stream_id: int, x: int, want: tuple[int, int, int], gone: int | None = None
) -> float:
    """Seconds until the box at `x` shows `want` (and no longer at `gone`)."""
    started = time.monotonic()
    while time.monotonic() - started < WAIT:
        picture = live_picture(http, stream_id)
        if shows(picture, x, want) and (gone is None or not shows(picture, gone, want)):
            return time.monotonic() - started
        time.sleep(0.1)
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("changes", type=int, nargs="?", default=6)
    smoke.add_flag(parser)
    args = parser.parse_args()
    changes = 1 if args.smoke else args.changes
    page, move = [], []
    with tempfile.TemporaryDirectory(prefix="bench-overlay-latency-") as work, OverlayPages() as pages:
        pages.pages["/poll.html"] = POLLING
        pages.pages["/colour"] = COLOURS[0][0]
        node = Node(Path(work), env={"HEADWATER_OVERLAY_ALLOW_PRIVATE": "1"}).start()
        publisher = None
        try:
            with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as http:
                stream = http.post("/streaming/streams", json={"name": "latency", "html_overlay": True}).json()
                stream_id = stream["id"]
                overlay = http.post(
                    f"/streaming/streams/{stream_id}/overlays",
                    json=[{"url": pages.url("/poll.html"), "x": PLACES[0], "y": 48, "width": BOX[0], "height": BOX[1]}],
                ).json()[0]
                publisher = ffmpeg_publish(stream["push_url"], seconds=600, size="640x360", rate=25, gop=25)
                time_until(http, stream_id, PLACES[0], COLOURS[0][1])  # the first image is in
                x = PLACES[0]
                for change in range(1, changes + 1):
                    css, colour = COLOURS[change % 2]
                    pages.pages["/colour"] = css
                    page.append(time_until(http, stream_id, x, colour))
                    old, x = x, PLACES[change % 2]
                    http.patch(f"/streaming/streams/{stream_id}/overlays/{overlay['id']}", json={"x": x})
                    move.append(time_until(http, stream_id, x, colour, gone=old))
        finally:
            if publisher is not None:
                publisher.kill()
                publisher.wait()
            node.stop()
    print(f"LL-HLS origin, 0.5 s parts, read every 0.1 s; {changes} change(s) of each kind")
    print(f"API move → visible (reference): median {statistics.median(move):.2f} s, worst {max(move):.2f} s")
    print(f"page change → visible         : median {statistics.median(page):.2f} s, worst {max(page):.2f} s")


if __name__ == "__main__":
    main()
