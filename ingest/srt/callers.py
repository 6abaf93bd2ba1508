"""Who is at the SRT port: callers vetted by the listen callback but not yet accepted, and the
connected ones.

One table under one lock, because three threads read it together: libsrt's listen callback
(how many callers are there, is the port being released), the accept thread (a vetted caller
becomes a connection) and the port's thread (may libsrt let go of the port). The lock is pure
Python and never held inside libsrt.
"""

from __future__ import annotations

import threading
import time

from ingest.publish import PublishRequest, PublishSink

VETTED_TTL = 10.0  # a vetted caller that never completes its handshake is forgotten (and logged)


class SrtConnection:
    """One accepted caller; `sink` is set on the loop once the node admits it."""

    def __init__(self, sock: int, request: PublishRequest) -> None:
        self.sock = sock
        self.request = request
        self.sink: PublishSink | None = None
        self.early: list[bytes] = []
        self.early_bytes = 0
        self.received = False  # loop side: some media came
        self.closed = False  # loop side: the reader's end was handled
        self.close_reason: str | None = None  # set before someone else's srt_close wakes the reader
        self.thread: threading.Thread | None = None

    @property
    def label(self) -> str:
        return f"{self.request.peer} ({self.request.app}/{self.request.name})"


class Callers:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the four below
        self._vetted: dict[int, tuple[PublishRequest, float]] = {}
        self._connections: dict[int, SrtConnection] = {}
        self._last_seen = 0.0  # monotonic: the last listen callback, departure or acquire
        self._releasing = False  # the listener is being closed: callers are refused meanwhile

    # -- the listen callback and the accept thread ---------------------------------------
    def knock(self) -> tuple[bool, int]:
        """A caller knocks: whether the port is being released, and how many callers are there."""
        with self._lock:
            self._last_seen = time.monotonic()
            return self._releasing, len(self._connections) + len(self._vetted)

    def vetted(self, sock: int, request: PublishRequest) -> None:
        with self._lock:
            self._vetted[sock] = (request, time.monotonic())

    def take_vetted(self, sock: int) -> PublishRequest | None:
        """The request of an accepted socket, None when our listen callback never vetted it."""
        with self._lock:
            vetted = self._vetted.pop(sock, None)
        return vetted[0] if vetted is not None else None

    def forget_stale_vetted(self) -> list[PublishRequest]:
        """Callers vetted more than VETTED_TTL ago and never accepted (e.g. wrong passphrase)."""
        horizon = time.monotonic() - VETTED_TTL
        with self._lock:
            stale = [sock for sock, (_, at) in self._vetted.items() if at < horizon]
            return [self._vetted.pop(sock)[0] for sock in stale]

    def connected(self, connection: SrtConnection) -> None:
        with self._lock:
            self._connections[connection.sock] = connection

    def left(self, connection: SrtConnection, *, seen: bool = True) -> None:
        with self._lock:
            self._connections.pop(connection.sock, None)
            if seen:
                self._last_seen = time.monotonic()

    def connections(self) -> list[SrtConnection]:
        with self._lock:
            return list(self._connections.values())

    # -- the port --------------------------------------------------------------------------
    @property
    def releasing(self) -> bool:
        return self._releasing

    def seen(self) -> None:
        with self._lock:
            self._last_seen = time.monotonic()

    def linger_left(self, linger: float) -> float:
        """Seconds until libsrt may let go of the port, `linger` while callers are around."""
        with self._lock:
            if self._connections or self._vetted:
                return linger
            return max(self._last_seen + linger - time.monotonic(), 0.0)

    def begin_release(self, linger: float) -> bool:
        """Start releasing the port unless a caller is around or came within `linger` seconds."""
        with self._lock:
            if self._connections or self._vetted or time.monotonic() - self._last_seen < linger:
                return False
            self._releasing = True
            return True

    def end_release(self) -> None:
        with self._lock:
            self._releasing = False
