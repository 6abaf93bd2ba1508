"""The contract between an ingest server and the node: who may publish, and where media goes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ingest.media import MediaMessage


@dataclass(frozen=True)
class PublishRequest:
    """What a publisher asked for; ``query`` carries the token and must never be logged."""

    protocol: str  # "rtmp" | "rtmps" | "srt"
    app: str
    name: str  # stream key without the query
    query: str  # text after "?" in the publish name, "" if none
    peer: str  # "ip:port"


class PublishRejected(Exception):
    """Raised by an Authorize callable to refuse a publisher.

    ``unknown_stream`` picks the status code the publisher sees: ``NetStream.Publish.BadName``
    for a stream that does not exist, ``NetStream.Publish.Denied`` (default) otherwise.
    ``busy`` says the stream's slot already has a publisher (SRT answers it with its own
    reject code, so an encoder's operator can tell it from a wrong token). ``throttled`` says
    the address failed too often and is refused unchecked for a while: logged once per burst
    by the node, so the ingest servers do not log it again.
    """

    def __init__(
        self, reason: str, *, unknown_stream: bool = False, busy: bool = False, throttled: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unknown_stream = unknown_stream
        self.busy = busy
        self.throttled = throttled


class PublishSink(Protocol):
    """Receives one publisher's media; provided by the node once the publisher is accepted."""

    def write(self, message: MediaMessage | bytes) -> None:
        """Take one message (RTMP) or one chunk of MPEG-TS bytes (SRT; not necessarily whole
        188-byte packets); must be cheap and never block (it runs on the event loop)."""

    def close(self, reason: str) -> None:
        """Called exactly once when the publisher goes away, for any reason."""


Authorize = Callable[[PublishRequest], Awaitable[PublishSink]]

Vet = Callable[[PublishRequest], str | None]
"""The checks of Authorize without admitting anyone, for protocols that must answer before
the connection exists (SRT's listen callback): returns the SRT passphrase the caller must
use (None: unencrypted), raises PublishRejected. Called on the ingest's own thread (libsrt's
receive thread, which every SRT stream shares): answers at once from memory, never blocks
and never waits on the event loop."""
