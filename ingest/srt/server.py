"""The SRT listener: one libsrt socket on the SRT UDP port for every stream.

It ties three pieces together, each in its own module:
- the port (`ingest/srt/port.py`): ours from `start()` to `close()`, lent to libsrt only
  while callers are around, since an idle libsrt costs about 100 wake-ups a second;
- admission (`ingest/srt/admission.py`): libsrt's listen callback vets each caller (streamid,
  passphrase, whether it may publish) before its handshake completes; the node admits it
  (`authorize`) once accepted;
- reading (`ingest/srt/reader.py`): one thread per caller blocked in `srt_recvmsg`, handing its
  bytes to the node's sink on the event loop.
Here: the accept thread, which turns a vetted caller into a connection, and the lifecycle.

Threads. Ours only ever block inside libsrt, on its condition variables: one thread waits in
`srt_accept` on the (blocking) listener, and each accepted caller gets a reader thread. They
hand work to the event loop (`call_soon_threadsafe`, `run_coroutine_threadsafe`) and never
touch asyncio objects themselves. The loop never calls libsrt either; `close()` closes the
listener and every caller from the port's thread, which wakes their threads, then joins them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from ingest.publish import Authorize, Vet
from ingest.srt import libsrt
from ingest.srt.admission import SrtAdmission
from ingest.srt.callers import Callers, SrtConnection
from ingest.srt.libsrt import lib
from ingest.srt.port import SrtPort
from ingest.srt.reader import SrtReader
from ingest.srt.threads import name_native_thread

log = logging.getLogger("headwater.ingest.srt")

ACCEPT_RETRY = 0.1  # seconds between srt_accept calls after one failed
PUBLISH_TIMEOUT = 15.0  # seconds from admission to the first media bytes; a silent caller is closed


class SrtServer:
    def __init__(
        self, vet: Vet, authorize: Authorize, *, latency_ms: int = 120, publish_timeout: float = PUBLISH_TIMEOUT
    ) -> None:
        self._vet = vet
        self._authorize = authorize
        self._latency_ms = latency_ms
        self._publish_timeout = publish_timeout
        self._callers = Callers()
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._admission: SrtAdmission | None = None
        self._reader: SrtReader | None = None
        self._port: SrtPort | None = None

    async def start(self, host: str, port: int) -> None:
        """Take `port` (an explicit one); libsrt gets it when the first datagram comes."""
        if not port:
            raise ValueError("SrtServer needs an explicit port")
        self._loop = asyncio.get_running_loop()
        self._admission = SrtAdmission(self._loop, self._vet, self._authorize, self._callers, self._stopping)
        self._reader = SrtReader(self._loop, self._callers)
        srt_port = SrtPort(
            self._callers,
            self._admission.listen_callback,
            latency_ms=self._latency_ms,
            accept=self._accept_loop,
            stop_callers=self._reader.stop_all,
        )
        srt_port.open(host, port)
        self._port = srt_port
        libsrt.route_logs()
        log.info("srt listening on %s:%d (latency %d ms)", host, port, self._latency_ms)

    @property
    def port(self) -> int:
        return self._port.number if self._port is not None else 0

    async def close(self) -> None:
        """Stop the threads, close every caller (their sinks get close()), the listener and the port."""
        if self._port is None:
            return
        self._stopping.set()
        await self._port.close()

    def reader_threads(self) -> list[threading.Thread]:
        """The live callers' reader threads (for tests and diagnostics)."""
        return [c.thread for c in self._callers.connections() if c.thread is not None]

    # -- the accept thread --------------------------------------------------------------------
    def _accept_loop(self, listener: int) -> None:
        """Blocks in srt_accept until a caller completes its handshake or the listener closes."""
        name_native_thread("srt-accept")
        try:
            while True:
                sock = lib.srt_accept(listener, None, None)
                if sock != libsrt.INVALID_SOCKET:
                    self._connect(sock)
                    continue
                code, text = libsrt.last_error()
                lib.srt_clearlasterror()
                if self._stopping.is_set() or self._callers.releasing:
                    return
                if lib.srt_getsockstate(listener) != libsrt.SRTS_LISTENING:
                    log.error("srt listener stopped accepting: %s (%d)", text, code)
                    return
                # e.g. a queued caller that died before accept: the listener is fine
                log.info("srt accept failed: %s (%d)", text, code)
                time.sleep(ACCEPT_RETRY)  # never a busy loop, whatever libsrt answers
        except Exception:
            log.exception("srt accept thread failed")

    def _connect(self, sock: int) -> None:
        assert self._loop is not None and self._reader is not None
        request = self._callers.take_vetted(sock)
        if request is None or self._stopping.is_set():  # not through our callback: never admit it
            lib.srt_close(sock)
            return
        connection = SrtConnection(sock, request)
        if self._reader.start(connection):
            asyncio.run_coroutine_threadsafe(self._admit(connection), self._loop)

    async def _admit(self, connection: SrtConnection) -> None:
        assert self._admission is not None and self._reader is not None
        sink = await self._admission.admit(connection)
        if sink is None:
            self._reader.request_close(connection)
        else:
            self._reader.admitted(connection, sink)
            asyncio.get_running_loop().call_later(self._publish_timeout, self._close_if_silent, connection)

    def _close_if_silent(self, connection: SrtConnection) -> None:
        """A caller that connected but sends nothing would hold its slot for as long as libsrt's
        keepalives keep it alive."""
        assert self._reader is not None
        if not connection.received and not connection.closed:
            log.info("srt %s: no media within %.0f s, closing", connection.label, self._publish_timeout)
            self._reader.request_close(connection)
