"""The SRT listener: one libsrt socket on the SRT UDP port for every stream.

The port. While any libsrt socket is bound, libsrt runs a receive thread (`SRT:RcvQ:w<n>`)
that polls its UDP socket with a receive timeout of a few milliseconds: about 100 wake-ups
a second, three quarters of what an idle node costs (`bench/idle_node.py`). So libsrt only
holds the port while SRT callers are around. The server binds a plain UDP socket at
`start()` (the port is ours at once; bind errors surface there) and the event loop watches
it without reading. The first datagram (a caller's handshake) hands the port to libsrt:
`srt_startup`, a listener bound with `srt_bind_acquire` to a duplicate of our socket, and
libsrt reads the waiting datagram itself. Once no caller is connected, vetted or seen for
LINGER seconds, the listener is closed and `srt_cleanup` ends libsrt's threads and closes its
duplicate at once (left to libsrt's garbage collector, that takes 4-5 s, during which its
dying receive thread would swallow the next caller's handshakes); the loop watches the port
again. The kernel socket stays ours throughout, so the port is never unbound. Acquire,
release and shutdown run one after another on one thread (`srt-port`), never on the loop.

Threads. libsrt calls the listen callback on its own receive thread. Ours only ever block
inside libsrt, on its condition variables: one thread waits in `srt_accept` on the
(blocking) listener, and each accepted caller gets a reader thread blocked in `srt_recvmsg`.
(`srt_epoll_uwait` would not do: libsrt waits there in 10 ms slices, about 100 wake-ups a
second whatever the timeout.) They hand work to the event loop (`call_soon_threadsafe`,
`run_coroutine_threadsafe`) and never touch asyncio objects themselves. The loop never calls
libsrt either: it asks for a caller to be closed by running `srt_close` in an executor
thread, which wakes that caller's reader with an error; `close()` does the same for the
listener and every caller, then joins the threads.

Admission. The listen callback runs before the handshake completes: it parses the
streamid, asks the node (`vet`) whether the caller may publish, sets the stream's
passphrase on the new socket (a wrong or missing passphrase then fails the handshake in
libsrt) or rejects with an SRT reject code. No data flows before that. After accept the
node admits the caller (`authorize`) and gets its bytes in chunks of up to CHUNK_BYTES.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import logging
import os
import socket
import threading
import time

from ingest.publish import Authorize, PublishRejected, PublishRequest, PublishSink, Vet
from ingest.srt import libsrt
from ingest.srt.libsrt import lib
from ingest.srt.streamid import StreamIdError, parse_stream_id

log = logging.getLogger("headwater.ingest.srt")

VET_TIMEOUT = 2.0  # seconds the listen callback waits for the node's answer
CHUNK_BYTES = 64 * 1024  # bytes handed to the loop at once per connection
MESSAGE_BYTES = 1500  # one SRT live-mode payload is at most 1456 bytes
EARLY_BYTES_LIMIT = 4 * 1024 * 1024  # held while the node admits a caller
VETTED_TTL = 10.0  # a vetted caller that never completes its handshake is forgotten (and logged)
MAX_CALLERS = 256  # connected + vetted callers, hence reader threads; more are refused (1402)
ACCEPT_RETRY = 0.1  # seconds between srt_accept calls after one failed
JOIN_TIMEOUT = 5.0  # seconds close() waits for the threads once libsrt has woken them
LINGER = 10.0  # seconds without any SRT caller before libsrt lets go of the port
ACQUIRE_RETRY = 1.0  # seconds before watching the port again when libsrt could not take it
BACKLOG = 16
PR_SET_NAME = 15  # prctl: the kernel's name for the calling thread (top, /proc/*/task/*/comm)


class SrtConnection:
    """One accepted caller; `sink` is set on the loop once the node admits it."""

    def __init__(self, sock: int, request: PublishRequest) -> None:
        self.sock = sock
        self.request = request
        self.sink: PublishSink | None = None
        self.early: list[bytes] = []
        self.early_bytes = 0
        self.closed = False  # loop side: _closed() ran
        self.close_reason: str | None = None  # set before someone else's srt_close wakes the reader
        self.thread: threading.Thread | None = None

    @property
    def label(self) -> str:
        return f"{self.request.peer} ({self.request.app}/{self.request.name})"


class SrtServer:
    def __init__(self, vet: Vet, authorize: Authorize, *, latency_ms: int = 120) -> None:
        self._vet = vet
        self._authorize = authorize
        self._latency_ms = latency_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: socket.socket | None = None  # the SRT port, ours from start() to close()
        self._port = 0
        self._port_thread: concurrent.futures.ThreadPoolExecutor | None = None  # acquire, release, shutdown
        self._port_task: asyncio.Task | None = None
        self._listener = libsrt.INVALID_SOCKET  # while libsrt holds the port
        self._thread: threading.Thread | None = None  # srt-accept, while libsrt holds the port
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # guards the four below (pure Python, never held in libsrt)
        self._vetted: dict[int, tuple[PublishRequest, float]] = {}
        self._connections: dict[int, SrtConnection] = {}
        self._last_seen = 0.0  # monotonic: the last listen callback, departure or acquire
        self._releasing = False  # the listener is being closed: callers are refused meanwhile
        self._callback = libsrt.LISTEN_CALLBACK(self._on_listen)  # must outlive the listener

    # -- lifecycle (event loop) ------------------------------------------------------------
    async def start(self, host: str, port: int) -> None:
        """Take `port` (an explicit one); libsrt gets it when the first datagram comes."""
        if not port:
            raise ValueError("SrtServer needs an explicit port")
        self._loop = asyncio.get_running_loop()
        self._udp = _bind_udp(host, port)
        self._port = port
        libsrt.route_logs()
        self._port_thread = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="srt-port", initializer=_name_native_thread, initargs=("srt-port",))
        self._port_task = self._loop.create_task(self._own_port())
        log.info("srt listening on %s:%d (latency %d ms)", host, self._port, self._latency_ms)

    @property
    def port(self) -> int:
        return self._port

    async def close(self) -> None:
        """Stop the threads, close every caller (their sinks get close()), the listener and the port."""
        if self._udp is None:
            return
        self._stopping.set()
        self._port_task.cancel()
        await asyncio.wait([self._port_task])
        await asyncio.get_running_loop().run_in_executor(self._port_thread, self._stop_threads)
        self._port_thread.shutdown()
        self._udp.close()
        self._udp = None

    def reader_threads(self) -> list[threading.Thread]:
        """The live callers' reader threads (for tests and diagnostics)."""
        with self._lock:
            return [c.thread for c in self._connections.values() if c.thread is not None]

    # -- the port: watched by the loop, lent to libsrt while callers are around -----------------
    async def _own_port(self) -> None:
        """Lend the port to libsrt when a datagram comes; take it back once the callers are gone."""
        while True:
            await self._datagram()
            try:
                await self._loop.run_in_executor(self._port_thread, self._acquire)
            except Exception:
                log.exception("srt: libsrt could not take the port")
                self._discard_datagram()
                await asyncio.sleep(ACQUIRE_RETRY)
                continue
            while True:
                await asyncio.sleep(self._linger_left())
                if await self._loop.run_in_executor(self._port_thread, self._release_if_idle):
                    break

    async def _datagram(self) -> None:
        """Returns once a datagram waits on the port, left unread: it is libsrt's."""
        waiting = self._loop.create_future()
        fd = self._udp.fileno()
        self._loop.add_reader(fd, lambda: waiting.done() or waiting.set_result(None))
        try:
            await waiting
        finally:
            self._loop.remove_reader(fd)

    def _discard_datagram(self) -> None:
        try:
            self._udp.recv(MESSAGE_BYTES)
        except OSError:
            pass

    def _acquire(self) -> None:
        """Hand the port to libsrt: a listener bound to a duplicate of our socket (srt-port thread)."""
        libsrt.check(lib.srt_startup(), "srt_startup")
        try:
            self._listener = self._listen()
            with self._lock:
                self._last_seen = time.monotonic()
            thread = threading.Thread(target=self._accept_loop, args=(self._listener,),
                                      name="srt-accept", daemon=True)
            thread.start()
            self._thread = thread
        except Exception:
            if self._listener == libsrt.INVALID_SOCKET:
                lib.srt_cleanup()
            else:
                self._stop_threads()
            raise
        log.debug("srt: libsrt took the port")

    def _listen(self) -> int:
        sock = libsrt.check(lib.srt_create_socket(), "srt_create_socket")
        try:
            # blocking accept; accepted sockets inherit it, so their srt_recvmsg blocks too
            libsrt.set_int(sock, libsrt.SRTO_RCVSYN, 1)
            libsrt.set_int(sock, libsrt.SRTO_SNDSYN, 0)
            libsrt.set_int(sock, libsrt.SRTO_RCVLATENCY, self._latency_ms)
            udp = os.dup(self._udp.fileno())
            try:
                libsrt.check(lib.srt_bind_acquire(sock, udp), "srt_bind_acquire")
            except libsrt.SrtError:
                os.close(udp)  # libsrt owns (and closes) the duplicate only once bound
                raise
            libsrt.check(lib.srt_listen_callback(sock, self._callback, None), "srt_listen_callback")
            libsrt.check(lib.srt_listen(sock, BACKLOG), "srt_listen")
        except Exception:
            lib.srt_close(sock)
            raise
        return sock

    def _linger_left(self) -> float:
        """Seconds until libsrt may let go of the port, LINGER while callers are around."""
        with self._lock:
            if self._connections or self._vetted:
                return LINGER
            return max(self._last_seen + LINGER - time.monotonic(), 0.0)

    def _release_if_idle(self) -> bool:
        """Take the port back from libsrt unless a caller came meanwhile (srt-port thread)."""
        with self._lock:
            if self._connections or self._vetted or time.monotonic() - self._last_seen < LINGER:
                return False
            self._releasing = True
        try:
            self._stop_threads()
        finally:
            with self._lock:
                self._releasing = False
        log.debug("srt: libsrt let go of the port")
        return True

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
        self._forget_stale_vetted()
        with self._lock:
            self._last_seen = time.monotonic()
            releasing = self._releasing
            callers = len(self._connections) + len(self._vetted)
        if releasing:  # the listener is closing under this caller: it may call again at once
            return self._reject(sock, libsrt.REJECT_OVERLOAD, peer_text, "SRT port being released")
        if callers >= MAX_CALLERS:
            return self._reject(sock, libsrt.REJECT_OVERLOAD, peer_text, f"{callers} SRT callers already")
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
        with self._lock:
            self._vetted[sock] = (request, time.monotonic())
        # nobody else looks at _vetted while no caller comes: the loop checks it once it is stale
        self._to_loop(self._loop.call_later, VETTED_TTL + 1, self._forget_stale_vetted)
        return 0

    def _reject(self, sock: int, code: int, peer: str, why: str) -> int:
        lib.srt_setrejectreason(sock, code)
        log.info("srt %s refused (%d): %s", peer, code, why)
        return -1

    def _forget_stale_vetted(self) -> None:
        """Callers vetted but never accepted (e.g. wrong passphrase) are dropped after a while."""
        horizon = time.monotonic() - VETTED_TTL
        with self._lock:
            stale = [self._vetted.pop(s)[0] for s, (_, at) in list(self._vetted.items()) if at < horizon]
        for request in stale:
            log.info("srt %s (%s/%s) never completed its handshake (wrong or missing passphrase?)",
                     request.peer, request.app, request.name)

    # -- accept thread ------------------------------------------------------------------------
    def _accept_loop(self, listener: int) -> None:
        """Blocks in srt_accept until a caller completes its handshake or the listener closes."""
        _name_native_thread("srt-accept")
        try:
            while True:
                sock = lib.srt_accept(listener, None, None)
                if sock != libsrt.INVALID_SOCKET:
                    self._start_reader(sock)
                    continue
                code, text = libsrt.last_error()
                lib.srt_clearlasterror()
                if self._stopping.is_set() or self._releasing:
                    return
                if lib.srt_getsockstate(listener) != libsrt.SRTS_LISTENING:
                    log.error("srt listener stopped accepting: %s (%d)", text, code)
                    return
                # e.g. a queued caller that died before accept: the listener is fine
                log.info("srt accept failed: %s (%d)", text, code)
                time.sleep(ACCEPT_RETRY)  # never a busy loop, whatever libsrt answers
        except Exception:
            log.exception("srt accept thread failed")

    def _start_reader(self, sock: int) -> None:
        with self._lock:
            vetted = self._vetted.pop(sock, None)
        if vetted is None or self._stopping.is_set():  # not through our callback: never admit it
            lib.srt_close(sock)
            return
        connection = SrtConnection(sock, vetted[0])
        connection.thread = threading.Thread(target=self._read_loop, args=(connection,),
                                             name=f"srt-read-{sock}", daemon=True)
        with self._lock:
            self._connections[sock] = connection
        try:
            connection.thread.start()
        except RuntimeError as error:  # out of threads
            log.warning("srt %s: no reader thread (%s)", connection.label, error)
            with self._lock:
                self._connections.pop(sock, None)
            lib.srt_close(sock)
            return
        log.info("srt %s connected", connection.label)
        asyncio.run_coroutine_threadsafe(self._admit(connection), self._loop)

    # -- reader threads (one per caller) ------------------------------------------------------
    def _read_loop(self, connection: SrtConnection) -> None:
        """Blocks in srt_recvmsg; on data, takes whatever else is ready and hands it to the loop."""
        _name_native_thread("srt-read")
        buffer = ctypes.create_string_buffer(MESSAGE_BYTES)
        reason = "reader failed"
        try:
            while True:
                size = lib.srt_recvmsg(connection.sock, buffer, MESSAGE_BYTES)
                if size <= 0:
                    reason = self._ended()
                    break
                reason = self._drain(connection, buffer, bytearray(buffer.raw[:size]))
                if reason is not None:
                    break
        except Exception:
            log.exception("srt %s: reader failed", connection.label)
        finally:
            lib.srt_close(connection.sock)  # again when another thread closed it: harmless
            with self._lock:
                self._connections.pop(connection.sock, None)
                self._last_seen = time.monotonic()
            self._to_loop(self._closed, connection, connection.close_reason or reason)

    def _drain(self, connection: SrtConnection, buffer: ctypes.Array, chunk: bytearray) -> str | None:
        """Non-blocking reads until libsrt has nothing ready, in chunks to the loop; the socket
        blocks again afterwards. Returns why the connection ended, None while it lives."""
        sock = connection.sock
        reason = None
        try:
            libsrt.set_int(sock, libsrt.SRTO_RCVSYN, 0)
            while True:
                size = lib.srt_recvmsg(sock, buffer, MESSAGE_BYTES)
                if size > 0:
                    chunk += buffer.raw[:size]
                    if len(chunk) >= CHUNK_BYTES:
                        self._to_loop(self._deliver, connection, bytes(chunk))
                        chunk = bytearray()
                    continue
                code, _ = libsrt.last_error()
                if size < 0 and code == libsrt.SRT_EASYNCRCV:
                    lib.srt_clearlasterror()
                    break
                reason = self._ended()
                break
            if reason is None:
                libsrt.set_int(sock, libsrt.SRTO_RCVSYN, 1)
        except libsrt.SrtError as error:  # the socket was closed meanwhile
            lib.srt_clearlasterror()
            reason = f"connection ended ({error})"
        if chunk:
            self._to_loop(self._deliver, connection, bytes(chunk))
        return reason

    @staticmethod
    def _ended() -> str:
        _, text = libsrt.last_error()
        lib.srt_clearlasterror()
        return f"connection ended ({text or 'closed'})"

    def _to_loop(self, callback, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass

    # -- release and shutdown (srt-port thread) ----------------------------------------------------
    def _stop_threads(self) -> None:
        """Close the listener and every caller, join their threads, then let libsrt go."""
        if self._listener == libsrt.INVALID_SOCKET:
            return
        deadline = time.monotonic() + JOIN_TIMEOUT
        lib.srt_close(self._listener)  # wakes srt_accept with an error
        self._listener = libsrt.INVALID_SOCKET
        if self._thread is not None:
            self._thread.join(max(deadline - time.monotonic(), 0))
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            self._interrupt(connection, "server shutting down")
        alive = [self._thread] if self._thread is not None and self._thread.is_alive() else []
        for connection in connections:
            connection.thread.join(max(deadline - time.monotonic(), 0))
            if connection.thread.is_alive():
                alive.append(connection.thread)
        if alive:  # libsrt did not wake them: cleaning up under them would crash the process
            log.error("srt: %d thread(s) still in libsrt after %.0f s; libsrt left running",
                      len(alive), JOIN_TIMEOUT)
            return
        self._thread = None
        lib.srt_cleanup()  # ends libsrt's threads and closes its duplicate of the port's socket

    @staticmethod
    def _interrupt(connection: SrtConnection, reason: str) -> None:
        """Close the caller's socket from outside its reader, which then wakes and ends."""
        if connection.close_reason is None:
            connection.close_reason = reason
        lib.srt_close(connection.sock)

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
        if connection.closed or connection.close_reason is not None:
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
        if connection.closed or connection.close_reason is not None:
            return
        connection.close_reason = "closed by the node"
        self._loop.run_in_executor(None, lib.srt_close, connection.sock)

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


def _bind_udp(host: str, port: int) -> socket.socket:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp.bind((socket.gethostbyname(host), port))
        udp.setblocking(False)
    except OSError:
        udp.close()
        raise
    return udp


def _reject_code(rejected: PublishRejected) -> int:
    if rejected.unknown_stream:
        return libsrt.REJECT_NOT_FOUND
    if rejected.busy:
        return libsrt.REJECT_CONFLICT
    return libsrt.REJECT_FORBIDDEN


_libc = ctypes.CDLL(None, use_errno=True)


def _name_native_thread(name: str) -> None:
    """Give the calling thread a kernel name (15 bytes at most), so per-thread CPU can be told apart."""
    try:
        _libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (AttributeError, OSError):
        pass
