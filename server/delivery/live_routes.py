"""What to answer for a request under `/live/<id>/…`, apart from how it is written.

Two writers use these decisions: the ASGI app (`live_http.LiveHttp`), and the HTTP protocol's
fast path (`live_wire`), which answers playlists and parts without an ASGI task. `route()`
returns one of:
- an `Answer`: status, headers and body, ready now;
- a `Wait`: hold the request until `condition()` holds on an event of `topic` (LL-HLS
  blocking reload, a preload-hinted part), then answer `then(ok)`;
- a `Growing`: a DASH segment still being written, streamed part by part (ASGI only);
- a `FromDisk`: a segment behind the live edge, sent from its file (`live_wire` with
  sendfile, `file_sending`; the ASGI app reads it);
- a `Remote`: a stream this node does not run, which another node sharing the database may
  (ASGI only: `server/cluster/relay.py` relays it to the owner, else answers `fallback`).

Answers are values that many requests share. The 500 clients blocked on one playlist
all get the same `Answer`, and a writer formats its head once for all of them
(`Answer.head`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from server.delivery.live_state import GZIP_BYTES, MEDIA, LiveStream
from server.urls import SCREENSHOT, stream_number

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
PREFLIGHT = [
    *CORS,
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-max-age", b"86400"),
]
SAFE_PATH = re.compile(r"(?:[A-Za-z0-9_]+/)?[A-Za-z0-9_]+(?:\.\d+)?\.[a-z0-9]+")
MEDIA_PLAYLIST = re.compile(r"([A-Za-z0-9_]+)/index\.m3u8")
SEGMENT = re.compile(r"[A-Za-z0-9_]+/seg_\d+\.m4s")
PART = re.compile(r"[A-Za-z0-9_]+/seg_\d+\.\d+\.m4s")
SKIP_VALUES = ("YES", "v2")  # _HLS_skip (RFC 8216bis 6.2.5.1): v2 also skips date ranges, of which there are none

Lookup = Callable[[int], LiveStream | None]
Headers = Sequence[tuple[bytes, bytes]]
PREFIX = "/live/"


@dataclass(eq=False)
class Answer:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]  # content-length included
    _head: tuple[object, bytes] | None = field(default=None, repr=False)

    def head(self, status_line: bytes, default_headers: list[tuple[bytes, bytes]]) -> bytes:
        """Status line and headers on the wire, formatted once per set of default headers
        (uvicorn renews its `date` header once a second)."""
        if self._head is None or self._head[0] is not default_headers:
            lines = [status_line]
            for name, value in (*default_headers, *self.headers):
                lines += (name, b": ", value, b"\r\n")
            lines.append(b"\r\n")
            self._head = (default_headers, b"".join(lines))
        return self._head[1]


@dataclass(eq=False)
class Wait:
    stream: LiveStream
    topic: str
    condition: Callable[[], bool]
    timeout: float
    then: Callable[[bool], Answer]


@dataclass(eq=False)
class Growing:
    stream: LiveStream
    path: str


@dataclass(eq=False)
class FromDisk:
    file: Path
    headers: list[tuple[bytes, bytes]]  # without content-length: the file's size, when opened
    stream: LiveStream  # whose meter counts the bytes sent


@dataclass
class Remote:
    fallback: Answer  # what this node answers itself when no other node runs the stream


def answer(status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
    return Answer(status, body, [*headers, (b"content-length", str(len(body)).encode())])


NOT_LIVE = answer(404, b"stream not live\n", CORS)
NO_PLAYLIST = answer(404, b"no such playlist\n", CORS)
NO_FILE = answer(404, b"no such file\n", CORS)
NO_SEGMENT = answer(404, b"no such segment\n", CORS)
PREFLIGHT_ANSWER = answer(204, b"", PREFLIGHT)
NOT_ALLOWED = answer(405, b"method not allowed\n", CORS)
EMPTY = {status: answer(status, b"", CORS) for status in (400, 404, 503)}


class LiveRoutes:
    """Decides the answer to a `/live/…` request; `lookup(stream_id)` gives the stream or None."""

    def __init__(
        self,
        lookup: Lookup,
        *,
        segment_target: float,
        part_target: float,
        screenshot: Callable[[int], Answer] | None = None,
        metered: bool = True,
        user_agents: bool = True,
        remote: bool = False,
    ) -> None:
        """`screenshot(stream_id)` answers `screenshot.jpg`, live or not (the last one stays);
        `metered`: note who follows each playlist (the viewer sessions behind /metrics' viewers
        and the statistics API); `user_agents`: with their user agent (the statistics' sessions
        are one per client address and user agent); `remote`: other nodes share the database,
        so a stream not here may run on one of them."""
        self.lookup = lookup
        self.remote = remote
        self.metered = metered
        self.user_agents = user_agents
        self.screenshot = screenshot
        self.block_timeout = 3 * segment_target
        self.early_wait = 2 * part_target + 0.5

    def route(
        self, method: str, path: str, query: bytes, client: str | None = None, headers: Headers = ()
    ) -> Answer | Wait | Growing | FromDisk | Remote:
        """`client`: the requester's address (a viewer is an address following a playlist);
        `headers`: the request's (lower-case names), read for playlists only."""
        if method == "OPTIONS":
            return PREFLIGHT_ANSWER
        if method not in ("GET", "HEAD"):
            return NOT_ALLOWED
        number, _, path = path.removeprefix(PREFIX).partition("/")
        stream_id = stream_number(number)
        stream = self.lookup(stream_id) if stream_id is not None else None
        elsewhere = self.remote and stream is None and stream_id is not None
        if path == SCREENSHOT and self.screenshot is not None and stream_id is not None:
            shot = self.screenshot(stream_id)
            return Remote(shot) if elsewhere else shot
        if stream is None or not SAFE_PATH.fullmatch(path):
            return Remote(NOT_LIVE) if elsewhere and SAFE_PATH.fullmatch(path) else NOT_LIVE
        if path.endswith((".m3u8", ".mpd")):
            gzip, user_agent = request_facts(headers, self.user_agents)
            if self.metered and client:
                stream.meter.followers.add((path, client, user_agent))
            return self.playlist(stream, path, query, gzip)
        return self.media(stream, path)

    def playlist(self, stream: LiveStream, path: str, query: bytes, gzip: bool = False) -> Answer | Wait:
        params = hls_params(query) if b"_HLS_" in query else {}
        blocking = "_HLS_msn" in params or "_HLS_part" in params
        skip = params.get("_HLS_skip") in SKIP_VALUES
        if blocking and MEDIA_PLAYLIST.fullmatch(path):
            return self.block(stream, path, params, skip, gzip)
        return playlist_answer(stream, path, blocking=blocking, skip=skip, gzip=gzip)

    def block(self, stream: LiveStream, path: str, query: dict[str, str], skip: bool, gzip: bool) -> Answer | Wait:
        """RFC 8216bis 6.2.5.2: hold until the playlist has part N of segment M (or later)."""
        try:
            msn = int(query["_HLS_msn"])
            part = int(query["_HLS_part"]) if "_HLS_part" in query else None
        except (KeyError, ValueError):
            return EMPTY[400]
        if msn < 0 or (part is not None and part < 0):
            return EMPTY[400]
        progress = stream.progress.get(path)
        if progress is not None and msn > progress.msn + 2:
            return EMPTY[400]

        def condition() -> bool:
            now = stream.progress.get(path)
            if now is None:
                return False
            return now.has_segment(msn) if part is None else now.has_part(msn, part)

        if condition():  # already there (a player behind, a reload racing the event): no wait
            return playlist_answer(stream, path, blocking=True, skip=skip, gzip=gzip)

        def then(ok: bool) -> Answer:
            # Past the end of an ended playlist the answer is the final one (ENDLIST): a player
            # whose reload got an error instead reloaded after the next worker took over, read
            # that one track went on live while the others had ended, and stalled.
            if ok or stream.ended_at is not None:
                return playlist_answer(stream, path, blocking=True, skip=skip, gzip=gzip)
            return EMPTY[503]

        return Wait(stream, path, condition, self.block_timeout, then)

    def media(self, stream: LiveStream, path: str) -> Answer | Wait | Growing | FromDisk:
        file = stream.on_disk(path)
        if file is not None:
            return FromDisk(file, CORS + media_headers(path, MEDIA_CACHE), stream)
        found = media_answer(stream, path)
        if found is not None:
            return found
        if SEGMENT.fullmatch(path):
            return Growing(stream, path)
        if PART.fullmatch(path):
            # A preload hint names the next part before it exists: hold until it does.
            return Wait(
                stream,
                MEDIA,
                lambda: path in stream.media,
                self.early_wait,
                lambda _ok: media_answer(stream, path) or NO_FILE,
            )
        return NO_FILE


def hls_params(query: bytes) -> dict[str, str]:
    """The query's parameters, the first of each name, undecoded (the `_HLS_` ones are plain)."""
    params: dict[str, str] = {}
    for pair in query.decode(errors="replace").split("&"):
        name, _, value = pair.partition("=")
        params.setdefault(name, value)
    return params


def playlist_answer(stream: LiveStream, path: str, *, blocking: bool, skip: bool = False, gzip: bool = False) -> Answer:
    """The playlist's current text (`skip`: its delta update; `gzip`: gzipped if long), one
    shared Answer per text and kind of request."""
    found = stream.text(path, skip, gzip)
    if found is None:
        return NO_PLAYLIST
    text, gzipped = found
    key = (path, blocking, skip, gzipped)
    known = stream.answers.get(key)
    if known is None or known.body is not text:
        cache = BLOCKED_PLAYLIST_CACHE if blocking else PLAYLIST_CACHE
        headers = CORS + media_headers(path, cache)
        if gzipped:
            headers += [(b"content-encoding", b"gzip"), (b"vary", b"accept-encoding")]
        elif len(text) >= GZIP_BYTES:  # another request may get it gzipped: caches must tell
            headers.append((b"vary", b"accept-encoding"))
        known = stream.answers[key] = answer(200, text, headers)
    stream.meter.served_bytes += len(text)
    return known


def request_facts(headers: Headers, user_agents: bool = True) -> tuple[bool, bytes]:
    """Whether request headers (lower-case names) accept a gzipped answer, and the user agent
    (b"" when absent or not asked for), in one pass."""
    gzip, user_agent = False, b""
    for name, value in headers:
        if name == b"accept-encoding":
            gzip = gzip or b"gzip" in value.lower()
        elif name == b"user-agent" and user_agents:
            user_agent = value
    return gzip, user_agent


def media_answer(stream: LiveStream, path: str) -> Answer | None:
    """An announced media file, one shared Answer while its bytes stay cached."""
    data = stream.read_media(path)
    if data is None:
        return None
    known = stream.answers.get(path)
    if known is None or known.body is not data:
        known = stream.answers[path] = answer(200, data, CORS + media_headers(path, MEDIA_CACHE))
    stream.meter.served_bytes += len(data)
    return known


def media_headers(path: str, cache: bytes) -> list[tuple[bytes, bytes]]:
    suffix = path[path.rfind(".") :]
    return [
        (b"content-type", CONTENT_TYPES.get(suffix, b"application/octet-stream")),
        (b"cache-control", cache),
    ]
