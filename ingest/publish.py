"""The contract between an ingest server and the node: who may publish, and where media goes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ingest.media import MediaMessage


@dataclass(frozen=True)
class PublishRequest:
    """What a publisher asked for; ``query`` carries the token and must never be logged."""

    protocol: str  # "rtmp" | "rtmps"
    app: str
    name: str  # stream key without the query
    query: str  # text after "?" in the publish name, "" if none
    peer: str  # "ip:port"


class PublishRejected(Exception):
    """Raised by an Authorize callable to refuse a publisher.

    ``unknown_stream`` picks the status code the publisher sees: ``NetStream.Publish.BadName``
    for a stream that does not exist, ``NetStream.Publish.Denied`` (default) otherwise.
    """

    def __init__(self, reason: str, *, unknown_stream: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unknown_stream = unknown_stream


class PublishSink(Protocol):
    """Receives one publisher's media; provided by the node once the publisher is accepted."""

    def write(self, message: MediaMessage) -> None:
        """Take one message; must be cheap and never block (it runs on the event loop)."""

    def close(self, reason: str) -> None:
        """Called exactly once when the publisher goes away, for any reason."""


Authorize = Callable[[PublishRequest], Awaitable[PublishSink]]
