"""The node's HTTP protocol, answering live playlists and parts itself, without ASGI.

500 LL-HLS clients following one stream make ~1,500 requests per part: 500 blocked reloads
answered at once, 500 part fetches, 500 new blocked reloads. Through ASGI each costs a task,
a scope, two send messages and uvicorn formatting the same head again. py-spy put that at
about half of the node's time under such a fan-out, in a burst long enough to make the
last clients late. Here, once httptools has parsed a request's head, a `/live/` GET is
answered from `LiveRoutes` in the same callback:
- an Answer is written at once (one `writelines`, the head formatted once per Answer);
- a Wait becomes a callback on the stream's event, so one playlist event answers every
  blocked client in one loop pass, with one shared head;
- a FromDisk (a DVR segment behind the live edge) is sent from its file with sendfile
  (`file_sending`), the cycle complete once it is.

With signed playback on, the request's token is checked first (`playback_tokens`; once per
connection while it holds) and cut from the path: a refused one is answered 403 here.

A live GET pipelined behind one held here is answered here too, right after it: Apple's
players ask for the preload-hinted part along with each blocking reload, and both are
answered by the same event. Through uvicorn's pipeline the part waited for a task of its own
after the reload's answer: with 500 such clients the last parts left ~100 ms after the first.

Everything else goes the usual way, through uvicorn to the ASGI app: other paths, HEAD and
OPTIONS, DASH's growing segments, HTTP/1.0 or `Connection: close`, a third request pipelined
behind two unfinished ones (or behind one of uvicorn's), a connection whose writes are paused,
and access logging.
Whatever is answered here stands in uvicorn's books as a finished request cycle
(`LiveCycle`), so keep-alive, pipelining and graceful shutdown go on as before.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from server.delivery.file_sending import FileSending
from server.delivery.live_routes import (
    NO_FILE,
    PREFIX,
    Answer,
    FromDisk,
    Growing,
    LiveRoutes,
    Remote,
    Wait,
    answer,
)
from server.delivery.playback_tokens import PlaybackTokens, Refusal
from server.delivery.signed_http import REFUSED
from server.one_write_http import OneWriteProtocol

LIVE = PREFIX.encode()
ANSWERED: Counter[int] = Counter()  # answers written here by status, for /metrics (server/metrics/)


class _NoEvent:
    """uvicorn sets its cycle's `message_event` when the request body ends; nothing awaits it here."""

    @staticmethod
    def set() -> None:
        pass


class LiveCycle:
    """What uvicorn's protocol sees as the current request cycle while this module answers it.

    `ahead` is the held cycle this one was pipelined behind (None once it needs no waiting):
    an answer that comes first is kept in `ready` until that one's is written."""

    __slots__ = (
        "ahead",
        "body",
        "disconnected",
        "follower",
        "keep_alive",
        "more_body",
        "protocol",
        "ready",
        "response_complete",
    )
    message_event = _NoEvent

    def __init__(self, protocol: LiveWireProtocol, ahead: LiveCycle | None = None) -> None:
        self.protocol = protocol
        self.response_complete = False
        self.keep_alive = True  # uvicorn's shutdown() clears it
        self.disconnected = False  # uvicorn's connection_lost() sets it
        self.more_body = True
        self.body = b""
        self.ahead = ahead
        self.follower: LiveCycle | None = None
        self.ready: Answer | None = None
        if ahead is not None:
            ahead.follower = self

    def answer(self, found: Answer) -> None:
        if self.ahead is not None and not self.ahead.response_complete:
            self.ready = found
            return
        protocol = self.protocol
        transport = protocol.transport
        if self.disconnected or transport.is_closing():
            return
        head = found.head(STATUS_LINE[found.status], protocol.server_state.default_headers)
        transport.writelines((head, found.body) if found.body else (head,))
        ANSWERED[found.status] += 1
        self._complete()

    def send_file(self, found: FromDisk) -> None:
        """A segment from its file (sendfile, see `file_sending`); the cycle completes once it
        is sent. Where sendfile cannot run now, its bytes are read and written as an Answer."""
        try:
            fd = os.open(found.file, os.O_RDONLY)
        except OSError:
            return self.answer(NO_FILE)
        size = os.fstat(fd).st_size
        found.stream.meter.served_bytes += size
        transport = self.protocol.transport
        if not FileSending.possible(transport):
            try:
                data = os.pread(fd, size, 0)
            finally:
                os.close(fd)
            return self.answer(answer(200, data, found.headers))
        headers = Answer(200, b"", [*found.headers, (b"content-length", str(size).encode())])
        head = headers.head(STATUS_LINE[200], self.protocol.server_state.default_headers)
        ANSWERED[200] += 1
        FileSending(self.protocol.loop, transport, head, fd, size, self._file_sent).start()

    def _file_sent(self, ok: bool) -> None:
        if not ok:
            self.protocol.transport.close()
        self._complete()

    def _complete(self) -> None:
        """The response is written: uvicorn's books, then the request held behind it."""
        protocol = self.protocol
        transport = protocol.transport
        self.response_complete = True
        follower = self.follower
        if follower is None:
            if not self.keep_alive:
                transport.close()
            protocol.on_response_complete()
            return
        # uvicorn's books: one request done; no keep-alive timer while the follower is held
        protocol.server_state.total_requests += 1
        follower.ahead = None
        if follower.ready is not None:
            follower.answer(follower.ready)


class LiveWireProtocol(OneWriteProtocol):
    """uvicorn's httptools protocol with live GETs answered in place; `routes` and `tokens`
    (signed playback, None when off) are set by `serving()`."""

    routes: LiveRoutes
    tokens: PlaybackTokens | None = None
    signed: tuple[str, str, int] | None = None  # the connection's last good token: signed prefix, prefix, expiry

    @classmethod
    def serving(cls, routes: LiveRoutes, tokens: PlaybackTokens | None = None) -> type[LiveWireProtocol]:
        """The protocol class to give uvicorn (it builds one per connection from the class)."""
        return type(cls.__name__, (cls,), {"routes": routes, "tokens": tokens})

    def on_headers_complete(self) -> None:
        # A request answered at once re-arms the keep-alive timer while the parser goes on
        # to one pipelined behind it, which may then be held for longer than that timeout.
        self._unset_keepalive_if_required()
        if not self._answer_live():
            super().on_headers_complete()

    def _answer_live(self) -> bool:
        if not self._may_answer():
            return False
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii")
        if "%" in path:
            return False
        client = self.client[0] if self.client else None
        if self.tokens is None:
            found = self.routes.route("GET", path, url.query or b"", client, self.headers)
        else:
            signed = self._route_signed(self.tokens, path, url.query or b"", client)
            if signed is None:
                return False
            found = signed
        if isinstance(found, (Growing, Remote)):
            return False
        held = self.cycle if type(self.cycle) is LiveCycle and not self.cycle.response_complete else None
        if isinstance(found, FromDisk):
            if held is not None:
                return False  # (rare) behind a held reload: through ASGI, which reads it
            self.cycle = cycle = LiveCycle(self)
            cycle.send_file(found)
            return True
        self.cycle = cycle = LiveCycle(self, held)
        if isinstance(found, Wait):
            then = found.then
            found.stream.call_when(found.condition, found.timeout, found.topic, lambda ok: cycle.answer(then(ok)))
        else:
            cycle.answer(found)
        return True

    def _route_signed(
        self, tokens: PlaybackTokens, path: str, query: bytes, client: str | None
    ) -> Answer | Wait | Growing | FromDisk | Remote | None:
        """`route` for a signed path: 403 unless its token is good, then the path without it.
        None: leave the request to the ASGI app, which takes the client's address from
        X-Forwarded-For when uvicorn trusts the proxy (with the address signed, the proxy's
        own would not match)."""
        if tokens.bind_address and any(name == b"x-forwarded-for" for name, _ in self.headers):
            return None
        now = time.time()
        signed = self.signed
        if signed is not None and path.startswith(signed[0]) and signed[2] >= now:
            # a player's requests on one connection carry one token: checked once
            path = signed[1] + path[len(signed[0]) :]
        else:
            opened = tokens.open(path, client, now)
            if isinstance(opened, Refusal):
                return REFUSED[opened]
            self.signed = (opened.prefix + opened.token, opened.prefix, opened.expires)
            path = opened.path
        return self.routes.route("GET", path, query, client, self.headers)

    def _may_answer(self) -> bool:
        parser = self.parser
        return (
            self.url.startswith(LIVE)
            and parser.get_method() == b"GET"
            and parser.should_keep_alive()
            and parser.get_http_version() == "1.1"
            and not parser.should_upgrade()
            and (self.cycle is None or self.cycle.response_complete or self._may_follow(self.cycle))
            and not self.flow.write_paused
            and not self.config.access_log
            and self.limit_concurrency is None
        )

    def _may_follow(self, cycle) -> bool:
        """Whether a request may be answered here behind the unfinished `cycle`: one of ours,
        itself behind none (at most two held per connection), on a connection kept open."""
        return type(cycle) is LiveCycle and cycle.ahead is None and cycle.keep_alive and not self.pipeline
