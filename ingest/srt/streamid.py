"""The SRT streamid a caller sends: `<app>/<stream id>/<token>` (e.g. `in/12/abc`).

It carries what an RTMP publisher puts in the app, stream name and query; the token part
must never reach a log line.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LENGTH = 512  # libsrt's own limit for SRTO_STREAMID


class StreamIdError(ValueError):
    """The streamid is not `<app>/<stream id>/<token>`."""


@dataclass(frozen=True)
class StreamId:
    app: str
    name: str
    token: str

    def __repr__(self) -> str:  # keeps the token out of tracebacks and logs
        return f"StreamId(app={self.app!r}, name={self.name!r})"


def parse_stream_id(text: str) -> StreamId:
    if not text or len(text) > MAX_LENGTH:
        raise StreamIdError("empty or too long")
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise StreamIdError("expected <app>/<stream id>/<token>")
    app, name, token = parts
    return StreamId(app, name, token)
