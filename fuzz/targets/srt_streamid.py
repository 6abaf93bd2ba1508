"""The SRT streamid (ingest/srt/streamid.py), decoded as the listen callback does."""

from __future__ import annotations

from fuzz.target import Target
from ingest.srt.streamid import MAX_LENGTH, StreamIdError, parse_stream_id


def one(data: bytes) -> None:
    stream_id = parse_stream_id(data.decode("utf-8", errors="strict"))
    assert len(stream_id.app) + len(stream_id.name) + len(stream_id.token) + 2 <= MAX_LENGTH
    assert "token=" not in repr(stream_id)  # the token never reaches a log line


TARGET = Target("srt_streamid", one, (StreamIdError, UnicodeDecodeError))
