"""The SRT port: a plain UDP socket that is ours from `start()` to `close()`, lent to libsrt
only while SRT callers are around.

Why lend it at all: while any libsrt socket is bound, libsrt runs a receive thread
(`SRT:RcvQ:w<n>`) that polls its UDP socket with a receive timeout of a few milliseconds:
about 100 wake-ups a second, three quarters of what an idle node costs (`bench/idle_node.py`).
So the port is bound at start (bind errors surface there) and the event loop watches it
without reading. The first datagram (a caller's handshake) hands the port to libsrt:
`srt_startup`, a listener bound with `srt_bind_acquire` to a duplicate of our socket, and
libsrt reads the waiting datagram itself. Once no caller is connected, vetted or seen for
LINGER seconds, the listener is closed and `srt_cleanup` ends libsrt's threads and closes its
duplicate at once (left to libsrt's garbage collector, that takes 4-5 s, during which its
dying receive thread would swallow the next caller's handshakes); the loop watches the port
again. The kernel socket stays ours throughout, so the port is never unbound. Acquire,
release and shutdown run one after another on one thread (`srt-port`), never on the loop.

What happens on the lent port (accepting, admitting, reading callers) is not this module's
business: it starts `accept(listener)` on a thread once libsrt holds the port and asks
`stop_callers(deadline)` to end every caller before taking the port back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from ingest.srt import libsrt
from ingest.srt.callers import Callers
from ingest.srt.libsrt import lib
from ingest.srt.threads import name_native_thread

log = logging.getLogger("headwater.ingest.srt")

LINGER = 10.0  # seconds without any SRT caller before libsrt lets go of the port
ACQUIRE_RETRY = 1.0  # seconds before watching the port again when libsrt could not take it
JOIN_TIMEOUT = 5.0  # seconds a shutdown waits for the threads once libsrt has woken them
DATAGRAM_BYTES = 1500  # a datagram nobody could hand to libsrt is read and dropped
BACKLOG = 16


class SrtPort:
    def __init__(
        self,
        callers: Callers,
        listen_callback: object,
        *,
        latency_ms: int,
        accept: Callable[[int], None],
        stop_callers: Callable[[float], list[threading.Thread]],
    ) -> None:
        """`listen_callback` must outlive every listener (the caller keeps it); `accept` runs
        on the `srt-accept` thread with the listener; `stop_callers` closes every caller and
        returns the threads still alive at the deadline."""
        self._callers = callers
        self._callback = listen_callback
        self._latency_ms = latency_ms
        self._accept = accept
        self._stop_callers = stop_callers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: socket.socket | None = None
        self._number = 0
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None  # acquire, release, shutdown
        self._task: asyncio.Task[None] | None = None
        self._listener = libsrt.INVALID_SOCKET  # while libsrt holds the port
        self._accept_thread: threading.Thread | None = None  # while libsrt holds the port

    @property
    def number(self) -> int:
        return self._number

    def open(self, host: str, port: int) -> None:
        """Bind the port (errors surface here) and start watching it (on the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._udp = _bind_udp(host, port)
        self._number = port
        self._thread = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="srt-port", initializer=name_native_thread, initargs=("srt-port",)
        )
        self._task = self._loop.create_task(self._lend_while_called())

    async def close(self) -> None:
        """Stop watching, take the port back from libsrt (ending every caller), unbind it."""
        if self._udp is None:
            return
        assert self._task is not None and self._thread is not None
        self._task.cancel()
        await asyncio.wait([self._task])
        await asyncio.get_running_loop().run_in_executor(self._thread, self._stop_threads)
        self._thread.shutdown()
        self._udp.close()
        self._udp = None

    # -- the event loop's side -----------------------------------------------------------------
    async def _lend_while_called(self) -> None:
        """Lend the port to libsrt when a datagram comes; take it back once the callers are gone."""
        assert self._loop is not None
        while True:
            await self._datagram()
            try:
                await self._loop.run_in_executor(self._thread, self._acquire)
            except Exception:
                log.exception("srt: libsrt could not take the port")
                self._discard_datagram()
                await asyncio.sleep(ACQUIRE_RETRY)
                continue
            while True:
                await asyncio.sleep(self._callers.linger_left(LINGER))
                if await self._loop.run_in_executor(self._thread, self._release_if_idle):
                    break

    async def _datagram(self) -> None:
        """Returns once a datagram waits on the port, left unread: it is libsrt's."""
        assert self._loop is not None and self._udp is not None
        waiting: asyncio.Future[None] = self._loop.create_future()

        def readable() -> None:
            if not waiting.done():
                waiting.set_result(None)

        fd = self._udp.fileno()
        self._loop.add_reader(fd, readable)
        try:
            await waiting
        finally:
            self._loop.remove_reader(fd)

    def _discard_datagram(self) -> None:
        assert self._udp is not None
        try:
            self._udp.recv(DATAGRAM_BYTES)
        except OSError:
            pass

    # -- the srt-port thread -------------------------------------------------------------------
    def _acquire(self) -> None:
        """Hand the port to libsrt: a listener bound to a duplicate of our socket."""
        libsrt.check(lib.srt_startup(), "srt_startup")
        try:
            self._listener = self._listen()
            self._callers.seen()
            thread = threading.Thread(target=self._accept, args=(self._listener,), name="srt-accept", daemon=True)
            thread.start()
            self._accept_thread = thread
        except Exception:
            if self._listener == libsrt.INVALID_SOCKET:
                lib.srt_cleanup()
            else:
                self._stop_threads()
            raise
        log.debug("srt: libsrt took the port")

    def _listen(self) -> int:
        assert self._udp is not None
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

    def _release_if_idle(self) -> bool:
        """Take the port back from libsrt unless a caller came meanwhile."""
        if not self._callers.begin_release(LINGER):
            return False
        try:
            self._stop_threads()
        finally:
            self._callers.end_release()
        log.debug("srt: libsrt let go of the port")
        return True

    def _stop_threads(self) -> None:
        """Close the listener and every caller, join their threads, then let libsrt go."""
        if self._listener == libsrt.INVALID_SOCKET:
            return
        deadline = time.monotonic() + JOIN_TIMEOUT
        lib.srt_close(self._listener)  # wakes srt_accept with an error
        self._listener = libsrt.INVALID_SOCKET
        if self._accept_thread is not None:
            self._accept_thread.join(max(deadline - time.monotonic(), 0))
        alive = self._stop_callers(deadline)
        if self._accept_thread is not None and self._accept_thread.is_alive():
            alive.insert(0, self._accept_thread)
        if alive:  # libsrt did not wake them: cleaning up under them would crash the process
            log.error("srt: %d thread(s) still in libsrt after %.0f s; libsrt left running", len(alive), JOIN_TIMEOUT)
            return
        self._accept_thread = None
        lib.srt_cleanup()  # ends libsrt's threads and closes its duplicate of the port's socket


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
