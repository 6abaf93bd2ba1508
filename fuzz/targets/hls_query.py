"""The `/live/…` request decision (server/delivery/live_routes.py): the path, and the query's
blocking-reload parameters `_HLS_msn`, `_HLS_part` and `_HLS_skip`.

The input is `path?query`, the request target after `/live/`. The path reaches the routes
as each writer passes it: ASCII only (uvicorn and `live_wire` refuse other bytes), and
percent-decoded when it has a `%` (the ASGI app; `live_wire` leaves those to it). The query
stays raw bytes. Stream 1 is live, its `v0/index.m3u8` at part 2 of segment 5.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote

from fuzz.target import Target
from server.delivery.live_routes import PREFIX, Answer, FromDisk, Growing, LiveRoutes, Wait
from server.delivery.live_state import HlsProgress, LiveStream

_stream = LiveStream(1, Path("/nonexistent"), asyncio.new_event_loop())
_stream.progress["v0/index.m3u8"] = HlsProgress(msn=5, part=2, complete_msn=4)
_routes = LiveRoutes(lambda i: _stream if i == 1 else None, segment_target=2.0, part_target=0.5, metered=False)


def one(data: bytes) -> None:
    raw, _, query = data.partition(b"?")
    if not raw.isascii():
        return
    path = raw.decode("ascii")
    found = _routes.route("GET", PREFIX + (unquote(path) if "%" in path else path), query)
    assert isinstance(found, Answer | Wait | Growing | FromDisk)
    if isinstance(found, Wait):
        assert found.timeout <= _routes.block_timeout


TARGET = Target("hls_query", one)
