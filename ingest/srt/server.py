"""The SRT listener: one libsrt socket on the SRT UDP port for every stream.

Threads. libsrt calls the listen callback on its own receive thread; one thread of ours
waits in `srt_epoll_uwait`, accepts callers and reads their data. Both hand work to the
event loop (`call_soon_threadsafe`, `run_coroutine_threadsafe`) and never touch asyncio
objects themselves; every libsrt call happens on those two threads, so the loop never
waits on a libsrt lock. The loop asks for a socket to be closed through a queue the
reader thread checks after each wait.

Admission. The listen callback runs before the handshake completes: it parses the
streamid, asks the node (`vet`) whether the caller may publish, sets the stream's
passphrase on the new socket (a wrong or missing passphrase then fails the handshake in
libsrt) or rejects with an SRT reject code. No data flows before that. After accept the
node admits the caller (`authorize`) and gets its bytes in chunks of up to CHUNK_BYTES.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import ctypes
import logging
import threading
import time

from ingest.publish import Authorize, PublishRejected, PublishRequest, PublishSink, Vet
from ingest.srt import libsrt
from ingest.srt.libsrt import lib
from ingest.srt.streamid import StreamIdError, parse_stream_id

log = logging.getLogger("headwater.ingest.srt")

VET_TIMEOUT = 2.0  # seconds the listen callback waits for the node's answer
WAIT_MS = 100  # epoll wait; bounds how long a close request waits
CHUNK_BYTES = 64 * 1024  # bytes handed to the loop at once per connection
MESSAGE_BYTES = 1500  # one SRT live-mode payload is at most 1456 bytes
EARLY_BYTES_LIMIT = 4 * 1024 * 1024  # held while the node admits a caller
VETTED_TTL = 10.0  # a vetted caller that never completes its handshake is forgotten (and logged)
BACKLOG = 16
MAX_EVENTS = 64


class SrtConnection:
    """One accepted caller; `sink` is set on the loop once the node admits it."""

    def __init__(self, sock: int, request: PublishRequest) -> None:
        self.sock = sock
        self.request = request
        self.sink: PublishSink | None = None
        self.early: list[bytes] = []
        self.early_bytes = 0
        self.closed = False

    @property
    def label(self) -> str:
        return f"{self.request.peer} ({self.request.app}/{self.request.name})"


class SrtServer:
    def __init__(self, vet: Vet, authorize: Authorize, *, latency_ms: int = 120) -> None:
        self._vet = vet
        self._authorize = authorize
        self._latency_ms = latency_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener = libsrt.INVALID_SOCKET
        self._eid = -1
        self._port = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._close_requests: collections.deque[int] = collections.deque()
        self._vetted: dict[int, tuple[PublishRequest, float]] = {}
        self._connections: dict[int, SrtConnection] = {}  # touched by the reader thread only
        self._callback = libsrt.LISTEN_CALLBACK(self._on_listen)  # must outlive the listener

    # -- lifecycle (event loop) ------------------------------------------------------------
    async def start(self, host: str, port: int) -> None:
        """Listen on `port` (an explicit one: libsrt's bound port is not read back)."""
        if not port:
            raise ValueError("SrtServer needs an explicit port")
        self._loop = asyncio.get_running_loop()
        libsrt.check(lib.srt_startup(), "srt_startup")
        libsrt.route_logs()
        sock = libsrt.check(lib.srt_create_socket(), "srt_create_socket")
        try:
            libsrt.set_int(sock, libsrt.SRTO_RCVSYN, 0)
            libsrt.set_int(sock, libsrt.SRTO_SNDSYN, 0)
            libsrt.set_int(sock, libsrt.SRTO_RCVLATENCY, self._latency_ms)
            address = libsrt.sockaddr_in(host, port)
            libsrt.check(lib.srt_bind(sock, ctypes.byref(address), ctypes.sizeof(address)), "srt_bind")
            libsrt.check(lib.srt_listen_callback(sock, self._callback, None), "srt_listen_callback")
            libsrt.check(lib.srt_listen(sock, BACKLOG), "srt_listen")
            self._eid = libsrt.check(lib.srt_epoll_create(), "srt_epoll_create")
            self._watch(sock)
        except Exception:
            lib.srt_close(sock)
            raise
        self._listener = sock
        self._port = port
        self._thread = threading.Thread(target=self._run, name="srt-listener", daemon=True)
        self._thread.start()
        log.info("srt listening on %s:%d (latency %d ms)", host, self._port, self._latency_ms)

    @property
    def port(self) -> int:
        return self._port

    async def close(self) -> None:
        """Stop the thread, close every caller (their sinks get close()) and the listener."""
        if self._thread is None:
            return
        self._stopping.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None

    # -- listen callback (libsrt's thread) ----------------------------------------------------
    def _on_listen(self, opaque, sock: int, hs_version: int, peer: int | None, streamid: bytes | None) -> int:
        """Accept (0) or reject (-1, with a reason) a caller before its handshake completes.

        Nothing may escape: ctypes would print the exception and return 0, i.e. accept."""
        try:
            return self._vet_caller(sock, libsrt.peer_text(peer), streamid)
        except Exception:
            log.exception("srt: the listen callback failed")
            lib.srt_setrejectreason(sock, libsrt.REJECT_OVERLOAD)
            return -1

    def _vet_caller(self, sock: int, peer_text: str, streamid: bytes | None) -> int:
        if self._stopping.is_set():
            return self._reject(sock, libsrt.REJECT_OVERLOAD, peer_text, "server shutting down")
        try:
            stream_id = parse_stream_id((streamid or b"").decode("utf-8", errors="strict"))
        except (StreamIdError, UnicodeDecodeError):
            return self._reject(sock, libsrt.REJECT_NOT_FOUND, peer_text, "malformed or missing streamid")
        request = PublishRequest("srt", stream_id.app, stream_id.name, stream_id.token, peer_text)
        future = asyncio.run_coroutine_threadsafe(self._vet(request), self._loop)
        try:
            passphrase = future.result(timeout=VET_TIMEOUT)
        except PublishRejected as rejected:
            return self._reject(sock, _reject_code(rejected), peer_text,
                                f"{stream_id.app}/{stream_id.name}: {rejected.reason}")
        except concurrent.futures.TimeoutError:
            future.cancel()
            return self._reject(sock, libsrt.REJECT_OVERLOAD, peer_text, "node too slow to answer")
        except Exception:
            log.exception("srt %s: checking the caller failed", peer_text)
            return self._reject(sock, libsrt.REJECT_OVERLOAD, peer_text, "internal error")
        try:
            if passphrase:
                libsrt.set_bytes(sock, libsrt.SRTO_PASSPHRASE, passphrase.encode())
        except libsrt.SrtError:
            return self._reject(sock, libsrt.REJECT_FORBIDDEN, peer_text,
                                f"stream {stream_id.name}: its passphrase is unusable for libsrt (10-79 chars)")
        self._vetted[sock] = (request, time.monotonic())
        return 0

    def _reject(self, sock: int, code: int, peer: str, why: str) -> int:
        lib.srt_setrejectreason(sock, code)
        log.info("srt %s refused (%d): %s", peer, code, why)
        return -1

    # -- reader thread ------------------------------------------------------------------------
    def _run(self) -> None:
        events = (libsrt.SrtEpollEvent * MAX_EVENTS)()
        buffer = ctypes.create_string_buffer(MESSAGE_BYTES)
        try:
            while not self._stopping.is_set():
                self._serve_close_requests()
                count = lib.srt_epoll_uwait(self._eid, events, MAX_EVENTS, WAIT_MS)
                for event in events[: max(count, 0)]:
                    if event.fd == self._listener:
                        self._accept()
                    elif event.fd in self._connections:
                        self._read(self._connections[event.fd], buffer)
                self._forget_stale_vetted()
        except Exception:
            log.exception("srt listener thread failed")
        finally:
            self._shutdown()

    def _watch(self, sock: int) -> None:
        flags = ctypes.c_int(libsrt.SRT_EPOLL_IN | libsrt.SRT_EPOLL_ERR)
        libsrt.check(lib.srt_epoll_add_usock(self._eid, sock, ctypes.byref(flags)), "srt_epoll_add_usock")

    def _accept(self) -> None:
        """One pending caller (epoll is level-triggered: the next wait reports any other)."""
        sock = lib.srt_accept(self._listener, None, None)
        if sock == libsrt.INVALID_SOCKET:
            lib.srt_clearlasterror()
            return
        vetted = self._vetted.pop(sock, None)
        if vetted is None:  # not through our callback: cannot happen, but never admit it
            lib.srt_close(sock)
            return
        connection = SrtConnection(sock, vetted[0])
        try:
            self._watch(sock)
        except libsrt.SrtError as error:
            log.warning("srt %s: cannot watch the socket (%s)", connection.label, error)
            lib.srt_close(sock)
            return
        self._connections[sock] = connection
        log.info("srt %s connected", connection.label)
        asyncio.run_coroutine_threadsafe(self._admit(connection), self._loop)

    def _read(self, connection: SrtConnection, buffer: ctypes.Array) -> None:
        """Everything the socket holds now, to the loop in chunks; a dead socket is closed."""
        chunk = bytearray()
        while True:
            size = lib.srt_recvmsg(connection.sock, buffer, MESSAGE_BYTES)
            if size > 0:
                chunk += buffer.raw[:size]
                if len(chunk) >= CHUNK_BYTES:
                    self._loop.call_soon_threadsafe(self._deliver, connection, bytes(chunk))
                    chunk = bytearray()
                continue
            code, text = libsrt.last_error()
            lib.srt_clearlasterror()
            if chunk:
                self._loop.call_soon_threadsafe(self._deliver, connection, bytes(chunk))
            if size < 0 and code == libsrt.SRT_EASYNCRCV:
                return
            self._close_socket(connection, f"connection ended ({text or 'closed'})")
            return

    def _close_socket(self, connection: SrtConnection, reason: str) -> None:
        self._connections.pop(connection.sock, None)
        lib.srt_epoll_remove_usock(self._eid, connection.sock)
        lib.srt_close(connection.sock)
        self._loop.call_soon_threadsafe(self._closed, connection, reason)

    def _serve_close_requests(self) -> None:
        while self._close_requests:
            sock = self._close_requests.popleft()
            connection = self._connections.get(sock)
            if connection is not None:
                self._close_socket(connection, "closed by the node")

    def _forget_stale_vetted(self) -> None:
        """Callers vetted but never accepted (e.g. wrong passphrase) are dropped after a while."""
        if not self._vetted:
            return
        horizon = time.monotonic() - VETTED_TTL
        for sock in [s for s, (_, at) in list(self._vetted.items()) if at < horizon]:
            request, _ = self._vetted.pop(sock)
            log.info("srt %s (%s/%s) never completed its handshake (wrong or missing passphrase?)",
                     request.peer, request.app, request.name)

    def _shutdown(self) -> None:
        for connection in list(self._connections.values()):
            self._close_socket(connection, "server shutting down")
        if self._eid >= 0:
            lib.srt_epoll_release(self._eid)
        lib.srt_close(self._listener)
        lib.srt_cleanup()

    # -- event loop side ------------------------------------------------------------------------
    async def _admit(self, connection: SrtConnection) -> None:
        try:
            sink = await self._authorize(connection.request)
        except PublishRejected as rejected:
            log.info("srt %s refused after connecting: %s", connection.label, rejected.reason)
            self._request_close(connection)
            return
        except Exception:
            log.exception("srt %s: admitting the caller failed", connection.label)
            self._request_close(connection)
            return
        if connection.closed:
            sink.close("publisher went away during authorization")
            return
        connection.sink = sink
        early, connection.early = connection.early, []
        for data in early:
            self._deliver(connection, data)

    def _deliver(self, connection: SrtConnection, data: bytes) -> None:
        if connection.closed:
            return
        if connection.sink is None:
            connection.early_bytes += len(data)
            if connection.early_bytes <= EARLY_BYTES_LIMIT:
                connection.early.append(data)
            return
        try:
            connection.sink.write(data)
        except PublishRejected as rejected:
            log.info("srt %s dropped: %s", connection.label, rejected.reason)
            self._request_close(connection)
        except Exception:
            log.exception("srt %s: sink failed", connection.label)
            self._request_close(connection)

    def _request_close(self, connection: SrtConnection) -> None:
        self._close_requests.append(connection.sock)

    def _closed(self, connection: SrtConnection, reason: str) -> None:
        if connection.closed:
            return
        connection.closed = True
        log.info("srt %s: %s", connection.label, reason)
        sink, connection.sink = connection.sink, None
        if sink is not None:
            try:
                sink.close(reason)
            except Exception:
                log.exception("srt %s: sink.close failed", connection.label)


def _reject_code(rejected: PublishRejected) -> int:
    if rejected.unknown_stream:
        return libsrt.REJECT_NOT_FOUND
    if rejected.busy:
        return libsrt.REJECT_CONFLICT
    return libsrt.REJECT_FORBIDDEN
