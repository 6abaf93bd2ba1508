"""`/live/<id>/screenshot.jpg`: the last JPEG a stream's worker saved (`transcode/screenshots.py`).

The worker replaces the file atomically every interval, outside the live directory, so the
URL answers during the broadcast and keeps the last picture after it (until the stream is
deleted). The node reads the file again only when its mtime or size changed: a stat per
request, and one read of a few tens of KiB per interval, however many viewers poll it.
"""

from __future__ import annotations

import os
from pathlib import Path

from server.delivery.live_routes import CORS, Answer, answer, media_headers

NO_SCREENSHOT = answer(404, b"no screenshot yet\n", CORS)


def screenshot_file(directory: Path, stream_id: int) -> Path:
    return directory / f"{stream_id}.jpg"


class ScreenshotFiles:
    """Answers for the screenshot URLs; `max_age` lets a cache hold one for part of the
    interval, so a viewer polling through a CDN still sees each new one within the interval."""

    def __init__(self, directory: Path, interval: float) -> None:
        self.directory = directory
        self.cache_control = f"public, max-age={max(1, int(interval // 2))}".encode()
        self.known: dict[int, tuple[tuple[int, int], Answer]] = {}

    def answer(self, stream_id: int) -> Answer:
        path = screenshot_file(self.directory, stream_id)
        try:
            stat = os.stat(path)
            version = (stat.st_mtime_ns, stat.st_size)
            known = self.known.get(stream_id)
            if known is not None and known[0] == version:
                return known[1]
            data = path.read_bytes()
        except OSError:
            self.known.pop(stream_id, None)
            return NO_SCREENSHOT
        found = answer(200, data, CORS + media_headers(path.name, self.cache_control))
        self.known[stream_id] = (version, found)
        return found

    def remove(self, stream_id: int) -> None:
        self.known.pop(stream_id, None)
        screenshot_file(self.directory, stream_id).unlink(missing_ok=True)
