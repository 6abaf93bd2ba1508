"""`/live/<id>/…`: playlists, manifests and media of live streams, served from memory.

A bare ASGI app rather than FastAPI routes: this is the hottest path of the node (every viewer
polls or blocks on a playlist every part), and skipping the framework's per-request work
is what lets one Python process answer thousands of requests per second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from server.delivery.live_routes import (
    CORS,
    MEDIA_CACHE,
    NO_FILE,
    NO_SEGMENT,
    PREFIX,
    Answer,
    FromDisk,
    Growing,
    LiveRoutes,
    Lookup,
    Remote,
    Wait,
    answer,
    media_headers,
)

if TYPE_CHECKING:
    from server.cluster.relay import OwnerRelay


class LiveHttp:
    """ASGI app for paths under `/live/`; `lookup(stream_id)` gives the stream's state or None.

    The answers come from `LiveRoutes`; the node's HTTP protocol writes most of them itself
    (`server/delivery/live_wire.py`) and leaves this app what it does not: DASH's growing
    segments, HEAD/OPTIONS, pipelined requests, access logging.
    """

    def __init__(
        self,
        lookup: Lookup,
        *,
        segment_target: float,
        part_target: float,
        screenshot: Callable[[int], Answer] | None = None,
        metered: bool = True,
        user_agents: bool = True,
        relay: OwnerRelay | None = None,
    ) -> None:
        """`relay`: other nodes share the database; a stream not here goes to its owner."""
        self.routes = LiveRoutes(
            lookup,
            segment_target=segment_target,
            part_target=part_target,
            screenshot=screenshot,
            metered=metered,
            user_agents=user_agents,
            remote=relay is not None,
        )
        self.relay = relay

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        client = scope.get("client")
        found = self.routes.route(
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            client[0] if client else None,
            scope.get("headers", ()),
        )
        if isinstance(found, Wait):
            ok = await found.stream.wait_until(found.condition, found.timeout, found.topic)
            found = found.then(ok)
        body = scope["method"] == "GET"
        if isinstance(found, Remote):
            relayed = await self.relay.serve(scope, send, found.fallback) if self.relay else found.fallback
            if relayed is None:
                return  # the owner's answer went out
            found = relayed
        if isinstance(found, Growing):
            return await self.growing_segment(found, send, body)
        if isinstance(found, FromDisk):  # (the protocol's fast path sends these with sendfile)
            try:
                data = await asyncio.to_thread(found.file.read_bytes)
            except OSError:
                return await respond(send, NO_FILE, body)
            found.stream.meter.served_bytes += len(data)
            found = answer(200, data, found.headers)
        await respond(send, found, body)

    async def growing_segment(self, found: Growing, send, body: bool) -> None:
        """DASH low latency: send the segment being written part by part as parts complete."""
        stream, path = found.stream, found.path
        if not await stream.wait_until(lambda: path in stream.growing, self.routes.early_wait):
            return await respond(send, NO_SEGMENT, body)
        headers = CORS + media_headers(path, MEDIA_CACHE)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        sent = 0
        while True:
            growing = stream.growing.get(path)
            if growing is None:
                break
            while body and sent < len(growing.parts):
                chunk = stream.read_media(growing.parts[sent]) or b""
                stream.meter.served_bytes += len(chunk)
                sent += 1
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if growing.complete or not body:
                break
            if not await stream.wait_until(
                lambda g=growing, n=sent: g.complete or len(g.parts) > n, self.routes.block_timeout
            ):
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def respond(send, found: Answer, body: bool = True) -> None:
    await send({"type": "http.response.start", "status": found.status, "headers": found.headers})
    await send({"type": "http.response.body", "body": found.body if body else b""})


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
