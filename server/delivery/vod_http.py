"""`/videos/<id>_<slug>/…`: playback of recorded videos (HLS over CMAF, DASH, MP4 download).

```
master.m3u8, video.m3u8, audio.m3u8   HLS (`packager/vod_hls.py`)
index.mpd                             DASH, static (`packager/vod_dash.py`)
video/init_<n>.mp4, video/<n>.m4s …   the recording's own files (audio/ the same)
video.mp4                             one MP4 with both tracks (`packager/vod_mp4.py`)
video.mp4/download                    the same, to save (`Content-Disposition: attachment`)
screenshot.jpg                        the stream's last screenshot when the recording ended
```

A bare ASGI app in front of FastAPI, as `/live/` is: segment requests are the bulk of VOD
traffic and need none of the framework. Everything answers HTTP `Range` (206, 416 with
`Content-Range: bytes */size`), HEAD and CORS preflights. Media bytes go out with
`sendfile(2)` through the node's HTTP protocol (the ASGI zero-copy extension,
`server/one_write_http.py`; 280 CPU-µs a 1.6 MB segment against 1,270 read on a thread and
copied), read on a thread where a server offers no zero-copy send. With object storage a file
is first fetched into the node's cache on a thread (`VodLibrary.media_file`), then sent the
same way. The MP4's moofs are read and patched on a thread, a segment at a time: the MP4 of a
4-hour recording streams through a few KB of memory. A video looked up while the database is
away gets 503 (one played lately is kept in memory and plays on). Media never changes once
recorded: `immutable` cache headers, so a CDN or nginx cache in front carries repeated traffic.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from packager.vod_mp4 import FileSpan, Mp4File, Piece
from server.db.outage import DATABASE_ERRORS, is_unavailable
from server.delivery.live_routes import CONTENT_TYPES, CORS, MEDIA_CACHE, PREFLIGHT
from server.delivery.vod_library import VodLibrary
from server.one_write_http import ZERO_COPY
from server.urls import SCREENSHOT, VOD_MP4

PATH = re.compile(r"/videos/(\d{1,10})_([A-Za-z0-9_-]{1,64})/((?:video/|audio/)?[A-Za-z0-9_]+\.[a-z0-9]+)(/download)?")
TEXT_CACHE = b"public, max-age=3600"  # a ready video's playlists never change; deleted, they go
RANGES = [(b"accept-ranges", b"bytes")]
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Range:
    """The bytes [start, end) of a body of `size` bytes a request asks for; `partial`: a 206."""

    start: int
    end: int
    size: int
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start


def requested_range(header: bytes | None, size: int) -> Range | None:
    """The one range of a `Range: bytes=…` header (the whole body without one, or for a form
    this does not serve: several ranges); None when it cannot be satisfied (416)."""
    whole = Range(0, size, size, False)
    if header is None:
        return whole
    match = re.fullmatch(rb"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None:
        return whole
    first, last = match.group(1), match.group(2)
    if not first:
        if not last:
            return whole
        start, end = max(0, size - int(last)), size  # the last N bytes
        if int(last) == 0:
            return None
    else:
        start = int(first)
        end = min(size, int(last) + 1) if last else size
        if last and int(last) < start:
            return whole  # invalid: ignored, as RFC 9110 says
    if start >= size or start >= end:
        return None
    return Range(start, end, size, True)


class VodHttp:
    """ASGI app for `/videos/…`."""

    def __init__(self, library: VodLibrary) -> None:
        self.library = library

    async def __call__(self, scope, receive, send) -> None:
        if await refused_method(scope, send):
            return None
        match = PATH.fullmatch(scope["path"])
        try:
            video = await self.library.find(int(match.group(1)), match.group(2)) if match else None
        except DATABASE_ERRORS as error:  # a video not played lately is looked up in the database
            if not is_unavailable(error):
                raise
            return await respond(send, 503, [*CORS, (b"retry-after", b"5")], b"database unavailable\n")
        if video is None or match is None:
            return await respond(send, 404, CORS, b"no such video\n")
        name, download = match.group(3), match.group(4) is not None
        if download and name != VOD_MP4:
            return await respond(send, 404, CORS, b"no such file\n")
        body = scope["method"] == "GET"
        headers = dict(scope.get("headers") or [])
        zero_copy = ZERO_COPY in (scope.get("extensions") or {})
        text = video.texts.get(name)
        if text is not None:
            return await respond(send, 200, CORS + media_headers(name, TEXT_CACHE), text if body else b"", len(text))
        if name == VOD_MP4 and video.mp4 is not None:
            saved = _attachment(int(match.group(1))) if download else []
            fetch = partial(self.library.storage.file, video.key)
            return await send_mp4(send, video.mp4, headers.get(b"range"), body, zero_copy, saved, fetch)
        found = video.files.get(name)
        known = found is not None or (name == SCREENSHOT and video.has_screenshot)
        path = await self.library.media_file(video, name) if known else None  # from the object storage
        if path is None:
            return await respond(send, 404, CORS, b"no such file\n")
        if found is None:  # the screenshot
            data = await asyncio.to_thread(path.read_bytes)
            return await respond(send, 200, CORS + media_headers(name, MEDIA_CACHE), data if body else b"", len(data))
        return await send_file(send, name, path, found[1], headers.get(b"range"), body, zero_copy)


class PrefixFirst:
    """Sends HTTP requests under `prefix` to `handler` (an ASGI app: the videos' or the clips'
    files), everything else to `app`."""

    def __init__(self, app, prefix: str, handler) -> None:
        self.app = app
        self.prefix = prefix
        self.handler = handler

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            return await self.handler(scope, receive, send)
        return await self.app(scope, receive, send)


async def send_file(
    send, name: str, path: Path, size: int, range_header: bytes | None, body: bool, zero_copy: bool
) -> None:
    wanted = requested_range(range_header, size)
    if wanted is None:
        return await _unsatisfiable(send, size)
    await _start(send, wanted, media_headers(name, MEDIA_CACHE))
    if body:
        await _send_span(send, FileSpan(path, wanted.start, wanted.length), zero_copy)
    await send({"type": "http.response.body", "body": b""})


async def send_mp4(
    send,
    mp4: Mp4File,
    range_header: bytes | None,
    body: bool,
    zero_copy: bool,
    extra: list[tuple[bytes, bytes]],
    fetch: Callable[[str], object] | None = None,
) -> None:
    """The head from memory, then piece by piece: its moofs read and patched on a thread,
    the media between them sent from the recorded files (`fetch(name)` first brings a
    segment's file to local disk, from the object storage)."""
    wanted = requested_range(range_header, mp4.size)
    if wanted is None:
        return await _unsatisfiable(send, mp4.size)
    await _start(send, wanted, media_headers(VOD_MP4, MEDIA_CACHE) + extra)
    if body:
        if wanted.start < len(mp4.head):
            head = mp4.head[wanted.start : min(wanted.end, len(mp4.head))]
            await send({"type": "http.response.body", "body": head, "more_body": True})
        for piece, low, high in mp4.overlapping(wanted.start, wanted.end):
            for part in await asyncio.to_thread(_piece_parts, mp4, piece, low, high, fetch):
                if isinstance(part, FileSpan):
                    await _send_span(send, part, zero_copy)
                else:
                    await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _send_span(send, span: FileSpan, zero_copy: bool) -> None:
    """With sendfile when the server offers it (`server/one_write_http.py`), else read on a thread."""
    if zero_copy:
        fd = os.open(span.path, os.O_RDONLY)
        try:
            await send({"type": ZERO_COPY, "file": fd, "offset": span.offset, "count": span.count, "more_body": True})
        finally:
            os.close(fd)
        return
    chunks = _file_chunks(span)
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


def _piece_parts(
    mp4: Mp4File, piece: Piece, low: int, high: int, fetch: Callable[[str], object] | None
) -> list[bytes | FileSpan]:
    if fetch is not None:
        fetch(piece.segment.file)
    return list(mp4.piece_parts(piece, low, high))


def _file_chunks(span: FileSpan) -> Iterator[bytes]:
    fd = os.open(span.path, os.O_RDONLY)
    try:
        offset, left = span.offset, span.count
        while left > 0:
            chunk = os.pread(fd, min(left, READ_CHUNK), offset)
            if not chunk:
                raise OSError(f"{span.path} is shorter than its index says")
            offset += len(chunk)
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


async def _start(send, wanted: Range, headers: list[tuple[bytes, bytes]]) -> None:
    headers = CORS + RANGES + headers + [(b"content-length", str(wanted.length).encode())]
    if wanted.partial:
        headers.append((b"content-range", f"bytes {wanted.start}-{wanted.end - 1}/{wanted.size}".encode()))
    await send({"type": "http.response.start", "status": 206 if wanted.partial else 200, "headers": headers})


async def _unsatisfiable(send, size: int) -> None:
    await respond(send, 416, [*CORS, *RANGES, (b"content-range", f"bytes */{size}".encode())], b"")


async def refused_method(scope, send) -> bool:
    """Answers a CORS preflight (204) or a method other than GET/HEAD (405): True when it did."""
    if scope["method"] == "OPTIONS":
        await respond(send, 204, PREFLIGHT, b"")
        return True
    if scope["method"] not in ("GET", "HEAD"):
        await respond(send, 405, CORS, b"method not allowed\n")
        return True
    return False


async def respond(
    send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, length: int | None = None
) -> None:
    size = len(body) if length is None else length
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(size).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _attachment(video_id: int) -> list[tuple[bytes, bytes]]:
    """`…/video.mp4/download`, as Gcore's `.mp4/download`: the browser saves the file."""
    return [(b"content-disposition", f'attachment; filename="video_{video_id}.mp4"'.encode())]


def media_headers(name: str, cache: bytes) -> list[tuple[bytes, bytes]]:
    suffix = name[name.rfind(".") :]
    return [(b"content-type", CONTENT_TYPES.get(suffix, b"application/octet-stream")), (b"cache-control", cache)]
