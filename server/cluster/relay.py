"""Viewers on any node: a live request for a stream another node owns goes to that node.

Behind a load balancer a viewer's requests land on any node, but a live stream's playlists
and media exist only on the node that owns it (its lease, server/db/leases.py). A node
that does not have the stream asks the database who owns it (one query per stream per
OWNER_TTL, however many viewers: concurrent misses share one lookup) and either proxies the
request there over a pool of keep-alive connections (the default: the URL, and so a CDN or
nginx cache in front, stay in the loop; a blocking reload is held by the owner and its answer
comes back through) or answers 307 to the owner's public URL (`cluster_viewers=redirect`:
the viewer then talks to the owner directly, which works only where every node's public URL
is reachable by viewers). A relayed request carries RELAYED_HEADER and is never relayed again,
so nodes that disagree for a moment about the owner answer 404 instead of bouncing it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from server.cluster.cluster import Cluster, stream_key
from server.delivery.live_routes import CORS, Answer, answer
from server.delivery.signed_http import SIGNED_PATH

log = logging.getLogger("headwater.cluster")

OWNER_TTL = 1.0  # seconds a stream's owner (or its having none) is remembered
RELAYED_HEADER = b"x-headwater-relayed"
FORWARDED = {b"accept-encoding", b"range"}  # request headers the owner's answer depends on
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
UNREACHABLE = answer(502, b"the node that runs this stream does not answer\n", CORS)


class OwnerRelay:
    def __init__(self, cluster: Callable[[], Cluster | None], *, redirect: bool, hold: float) -> None:
        """`cluster()`: this node's, once it runs; `hold`: the longest an owner may hold a
        request (a blocking reload's timeout), plus a margin."""
        self.cluster = cluster
        self.redirect = redirect
        self.hold = hold
        self.client: httpx.AsyncClient | None = None
        self.owners: dict[int, tuple[float, str | None]] = {}  # stream → (when, owner's URL)
        self.lookups: dict[int, asyncio.Future[str | None]] = {}

    async def owner_url(self, stream_id: int) -> str | None:
        """The public URL of the other node that owns the stream now, if any."""
        known = self.owners.get(stream_id)
        if known is not None and time.monotonic() - known[0] < OWNER_TTL:
            return known[1]
        pending = self.lookups.get(stream_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future = self.lookups[stream_id] = asyncio.get_running_loop().create_future()
        url = None
        try:
            url = await self._look_up(stream_id)
        finally:
            del self.lookups[stream_id]
            self.owners[stream_id] = (time.monotonic(), url)
            future.set_result(url)
        return url

    async def _look_up(self, stream_id: int) -> str | None:
        cluster = self.cluster()
        if cluster is None:
            return None
        try:
            holder = await cluster.holder_url(stream_key(stream_id))
        except Exception:
            log.exception("stream %s: looking up its owner failed", stream_id)
            return None
        if holder is None or holder[0] == cluster.node_id:
            return None
        return holder[1]

    async def serve(self, scope, send, fallback: Answer) -> Answer | None:
        """Answer a request for a stream this node does not run from its owner; what to
        answer instead (`fallback`, or 502) when none may or can."""
        headers = scope.get("headers", [])
        if any(name == RELAYED_HEADER for name, _ in headers):
            return fallback
        stream_id = int(scope["path"].split("/")[2])
        base = await self.owner_url(stream_id)
        if base is None:
            return fallback
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get(SIGNED_PATH, scope["path"])  # signed playback: the owner checks the token too
        url = f"{base}{path}" + (f"?{query}" if query else "")
        if self.redirect:
            location = url.encode("latin-1")
            return answer(307, b"", [*CORS, (b"location", location), (b"cache-control", b"no-store")])
        return await self._proxy(scope, send, url, headers)

    async def _proxy(self, scope, send, url: str, headers) -> Answer | None:
        if self.client is None:
            self.client = httpx.AsyncClient(
                timeout=httpx.Timeout(5.0, read=self.hold),
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
            )
        forwarded = [(name, value) for name, value in headers if name in FORWARDED] + [(RELAYED_HEADER, b"1")]
        request = self.client.build_request(scope["method"], url, headers=forwarded)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as error:
            log.warning("relaying %s failed: %s", url, error)
            return UNREACHABLE
        try:
            kept = [(k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": kept})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError as error:
            log.warning("relaying %s broke off: %s", url, error)  # the viewer sees a short body
        finally:
            await response.aclose()
        return None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
