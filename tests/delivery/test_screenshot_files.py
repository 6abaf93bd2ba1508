"""`/live/<id>/screenshot.jpg` from the file the worker replaces: live or not, re-read when it
changes, gone with the stream."""

from __future__ import annotations

import os

import httpx

from server.delivery.live_http import LiveHttp
from server.delivery.screenshots import ScreenshotFiles, screenshot_file


async def test_the_screenshot_is_served_whether_live_or_not_and_follows_the_file(tmp_path):
    files = ScreenshotFiles(tmp_path, interval=10)
    app = LiveHttp(lambda _id: None, segment_target=2.0, part_target=0.5, screenshot=files.answer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as client:
        assert (await client.get("/live/7/screenshot.jpg")).status_code == 404
        screenshot_file(tmp_path, 7).write_bytes(b"\xff\xd8first")
        first = await client.get("/live/7/screenshot.jpg")  # no live stream 7: still served
        assert first.status_code == 200 and first.content == b"\xff\xd8first"
        assert first.headers["content-type"] == "image/jpeg"
        assert first.headers["cache-control"] == "public, max-age=5"  # half the interval
        newer = tmp_path / "new.jpg"
        newer.write_bytes(b"\xff\xd8second!")
        os.replace(newer, screenshot_file(tmp_path, 7))  # as the worker replaces it
        assert (await client.get("/live/7/screenshot.jpg")).content == b"\xff\xd8second!"
        assert (await client.get("/live/8/screenshot.jpg")).status_code == 404
        files.remove(7)
        assert (await client.get("/live/7/screenshot.jpg")).status_code == 404
