"""Reading connected SRT callers: one thread per caller, blocked in libsrt, hands bytes to the loop.

Why a thread each: `srt_epoll_uwait` waits in 10 ms slices, about 100 wake-ups a second whatever
the timeout, while a thread blocked in `srt_recvmsg` waits on libsrt's condition variables and
costs nothing until data comes. On data it takes whatever else is ready without blocking and
hands it to the event loop in chunks of up to CHUNK_BYTES (`call_soon_threadsafe`); it never
touches asyncio objects itself. Bytes that come before the node has admitted the caller are held
(up to EARLY_BYTES_LIMIT) and delivered to its sink once admitted.

The loop never calls libsrt: it asks for a caller to be closed by running `srt_close` in an
executor thread, which wakes that caller's reader with an error; the reader then tells the loop,
which closes the sink with the reason.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
import time

from ingest.publish import PublishRejected, PublishSink
from ingest.srt import libsrt
from ingest.srt.callers import Callers, SrtConnection
from ingest.srt.libsrt import lib
from ingest.srt.threads import call_on_loop, name_native_thread

log = logging.getLogger("headwater.ingest.srt")

CHUNK_BYTES = 64 * 1024  # bytes handed to the loop at once per connection
MESSAGE_BYTES = 1500  # one SRT live-mode payload is at most 1456 bytes
EARLY_BYTES_LIMIT = 4 * 1024 * 1024  # held while the node admits a caller


class SrtReader:
    def __init__(self, loop: asyncio.AbstractEventLoop, callers: Callers) -> None:
        self._loop = loop
        self._callers = callers

    def start(self, connection: SrtConnection) -> bool:
        """Start the caller's reader thread (from the accept thread); False when none could start."""
        connection.thread = threading.Thread(
            target=self._read_loop, args=(connection,), name=f"srt-read-{connection.sock}", daemon=True
        )
        self._callers.connected(connection)
        try:
            connection.thread.start()
        except RuntimeError as error:  # out of threads
            log.warning("srt %s: no reader thread (%s)", connection.label, error)
            self._callers.left(connection, seen=False)
            lib.srt_close(connection.sock)
            return False
        log.info("srt %s connected", connection.label)
        return True

    def stop_all(self, deadline: float) -> list[threading.Thread]:
        """Close every caller from outside, join the readers; those still alive at `deadline`."""
        connections = self._callers.connections()
        for connection in connections:
            _interrupt(connection, "server shutting down")
        alive = []
        for connection in connections:
            assert connection.thread is not None
            connection.thread.join(max(deadline - time.monotonic(), 0))
            if connection.thread.is_alive():
                alive.append(connection.thread)
        return alive

    # -- the reader thread (one per caller) ---------------------------------------------------
    def _read_loop(self, connection: SrtConnection) -> None:
        """Blocks in srt_recvmsg; on data, takes whatever else is ready and hands it to the loop."""
        name_native_thread("srt-read")
        buffer = ctypes.create_string_buffer(MESSAGE_BYTES)
        reason = "reader failed"
        try:
            while True:
                size = lib.srt_recvmsg(connection.sock, buffer, MESSAGE_BYTES)
                if size <= 0:
                    reason = _ended()
                    break
                ended = self._drain(connection, buffer, bytearray(buffer.raw[:size]))
                if ended is not None:
                    reason = ended
                    break
        except Exception:
            log.exception("srt %s: reader failed", connection.label)
        finally:
            lib.srt_close(connection.sock)  # again when another thread closed it: harmless
            self._callers.left(connection)
            call_on_loop(self._loop, self._closed, connection, connection.close_reason or reason)

    def _drain(self, connection: SrtConnection, buffer: ctypes.Array[ctypes.c_char], chunk: bytearray) -> str | None:
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
                        call_on_loop(self._loop, self.deliver, connection, bytes(chunk))
                        chunk = bytearray()
                    continue
                code, _ = libsrt.last_error()
                if size < 0 and code == libsrt.SRT_EASYNCRCV:
                    lib.srt_clearlasterror()
                    break
                reason = _ended()
                break
            if reason is None:
                libsrt.set_int(sock, libsrt.SRTO_RCVSYN, 1)
        except libsrt.SrtError as error:  # the socket was closed meanwhile
            lib.srt_clearlasterror()
            reason = f"connection ended ({error})"
        if chunk:
            call_on_loop(self._loop, self.deliver, connection, bytes(chunk))
        return reason

    # -- the event loop's side ----------------------------------------------------------------
    def admitted(self, connection: SrtConnection, sink: PublishSink) -> None:
        """The node admitted the caller: its sink gets the bytes held meanwhile, then the rest."""
        if connection.closed:
            sink.close("publisher went away during authorization")
            return
        connection.sink = sink
        early, connection.early = connection.early, []
        for data in early:
            self.deliver(connection, data)

    def deliver(self, connection: SrtConnection, data: bytes) -> None:
        if connection.closed or connection.close_reason is not None:
            return
        connection.received = True
        if connection.sink is None:
            connection.early_bytes += len(data)
            if connection.early_bytes <= EARLY_BYTES_LIMIT:
                connection.early.append(data)
            return
        try:
            connection.sink.write(data)
        except PublishRejected as rejected:
            log.info("srt %s dropped: %s", connection.label, rejected.reason)
            self.request_close(connection)
        except Exception:
            log.exception("srt %s: sink failed", connection.label)
            self.request_close(connection)

    def request_close(self, connection: SrtConnection) -> None:
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


def _ended() -> str:
    _, text = libsrt.last_error()
    lib.srt_clearlasterror()
    return f"connection ended ({text or 'closed'})"


def _interrupt(connection: SrtConnection, reason: str) -> None:
    """Close the caller's socket from outside its reader, which then wakes and ends."""
    if connection.close_reason is None:
        connection.close_reason = reason
    lib.srt_close(connection.sock)
