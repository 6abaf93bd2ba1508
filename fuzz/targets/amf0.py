"""AMF0 decoding (ingest/rtmp/amf0.py), and encoding what was decoded: the session answers a
command with its transaction id, whatever AMF0 value that was."""

from __future__ import annotations

from fuzz.target import Target
from ingest.rtmp import amf0


def one(data: bytes) -> None:
    values = amf0.decode(data)
    amf0.encode(*values)


TARGET = Target("amf0", one, (amf0.Amf0Error,))
