"""`/live/<id>/…`: playlists, manifests and media of live streams, served from memory.

A bare ASGI app rather than FastAPI routes: this is the hottest path of the node (every viewer
polls or blocks on a playlist every part), and skipping the framework's per-request work
is what lets one Python process answer thousands of requests per second.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs

from server.delivery.live_state import LiveStream

CONTENT_TYPES = {
    ".m3u8": b"application/vnd.apple.mpegurl",
    ".mpd": b"application/dash+xml",
    ".m4s": b"video/iso.segment",
    ".mp4": b"video/mp4",
    ".ts": b"video/mp2t",
    ".jpg": b"image/jpeg",
}
PLAYLIST_CACHE = b"no-cache"
BLOCKED_PLAYLIST_CACHE = b"public, max-age=60"
MEDIA_CACHE = b"public, max-age=86400, immutable"
CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"content-length, date"),
]
PREFLIGHT = CORS + [
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-max-age", b"86400"),
]
SAFE_PATH = re.compile(r"(?:[A-Za-z0-9_]+/)?[A-Za-z0-9_]+(?:\.\d+)?\.[a-z0-9]+")
MEDIA_PLAYLIST = re.compile(r"([A-Za-z0-9_]+)/index\.m3u8")
SEGMENT = re.compile(r"[A-Za-z0-9_]+/seg_\d+\.m4s")
PART = re.compile(r"[A-Za-z0-9_]+/seg_\d+\.\d+\.m4s")

Lookup = Callable[[int], LiveStream | None]
PREFIX = "/live/"


class LiveHttp:
    """ASGI app for paths under `/live/`; `lookup(stream_id)` gives the stream's state or None."""

    def __init__(self, lookup: Lookup, *, segment_target: float, part_target: float) -> None:
        self.lookup = lookup
        self.block_timeout = 3 * segment_target
        self.early_wait = 2 * part_target + 0.5

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method == "OPTIONS":
            return await respond(send, 204, b"", PREFLIGHT)
        if method not in ("GET", "HEAD"):
            return await respond(send, 405, b"method not allowed\n", CORS)
        stream_id, _, path = scope["path"].removeprefix(PREFIX).partition("/")
        stream = self.lookup(int(stream_id)) if stream_id.isdigit() else None
        if stream is None or not SAFE_PATH.fullmatch(path):
            return await respond(send, 404, b"stream not live\n", CORS)
        body = method == "GET"
        if path.endswith((".m3u8", ".mpd")):
            return await self.playlist(stream, path, scope, send, body)
        return await self.media(stream, path, send, body)

    async def playlist(self, stream: LiveStream, path: str, scope, send, body: bool) -> None:
        query = parse_qs(scope.get("query_string", b"").decode())
        blocking = "_HLS_msn" in query or "_HLS_part" in query
        if blocking and MEDIA_PLAYLIST.fullmatch(path):
            status = await self.block(stream, path, query)
            if status != 200:
                return await respond(send, status, b"", CORS)
        text = stream.texts.get(path)
        if text is None:
            return await respond(send, 404, b"no such playlist\n", CORS)
        cache = BLOCKED_PLAYLIST_CACHE if blocking else PLAYLIST_CACHE
        await respond(send, 200, text, CORS + media_headers(path, cache), body)

    async def block(self, stream: LiveStream, path: str, query: dict) -> int:
        """RFC 8216bis 6.2.5.2: hold until the playlist has part N of segment M (or later)."""
        try:
            msn = int(query["_HLS_msn"][0])
            part = int(query["_HLS_part"][0]) if "_HLS_part" in query else None
        except (KeyError, ValueError):
            return 400
        if msn < 0 or (part is not None and part < 0):
            return 400
        progress = stream.progress.get(path)
        if progress is not None and msn > progress.msn + 2:
            return 400
        if part is None:
            condition = lambda: (p := stream.progress.get(path)) is not None and p.has_segment(msn)
        else:
            condition = lambda: (p := stream.progress.get(path)) is not None and p.has_part(msn, part)
        if await stream.wait_until(condition, self.block_timeout, topic=path):
            return 200
        return 404 if stream.ended_at is not None else 503

    async def media(self, stream: LiveStream, path: str, send, body: bool) -> None:
        data = stream.read_media(path)
        if data is None and SEGMENT.fullmatch(path):
            return await self.growing_segment(stream, path, send, body)
        if data is None and PART.fullmatch(path):
            # A preload hint names the next part before it exists: hold until it does.
            if await stream.wait_until(lambda: path in stream.media, self.early_wait):
                data = stream.read_media(path)
        if data is None:
            return await respond(send, 404, b"no such file\n", CORS)
        await respond(send, 200, data, CORS + media_headers(path, MEDIA_CACHE), body)

    async def growing_segment(self, stream: LiveStream, path: str, send, body: bool) -> None:
        """DASH low latency: send the segment being written part by part as parts complete."""
        if not await stream.wait_until(lambda: path in stream.growing, self.early_wait):
            return await respond(send, 404, b"no such segment\n", CORS)
        headers = CORS + media_headers(path, MEDIA_CACHE)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        sent = 0
        while True:
            growing = stream.growing.get(path)
            if growing is None:
                break
            while body and sent < len(growing.parts):
                chunk = stream.read_media(growing.parts[sent]) or b""
                sent += 1
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if growing.complete or not body:
                break
            if not await stream.wait_until(
                lambda g=growing, n=sent: g.complete or len(g.parts) > n, self.block_timeout
            ):
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def media_headers(path: str, cache: bytes) -> list[tuple[bytes, bytes]]:
    suffix = path[path.rfind("."):]
    return [
        (b"content-type", CONTENT_TYPES.get(suffix, b"application/octet-stream")),
        (b"cache-control", cache),
    ]


async def respond(send, status: int, data: bytes, headers: list, body: bool = True) -> None:
    headers = headers + [(b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data if body else b""})


class LiveFirst:
    """Sends `/live/…` straight to LiveHttp, everything else (and lifespan) to the main app.

    Mounting LiveHttp inside FastAPI would make every playlist request walk the API's
    route table first.
    """

    def __init__(self, app, live: LiveHttp) -> None:
        self.app = app
        self.live = live

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            return await self.live(scope, receive, send)
        return await self.app(scope, receive, send)
