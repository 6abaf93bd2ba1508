"""The unit an ingest protocol hands to the node: one FLV-style media message."""

from __future__ import annotations

from dataclasses import dataclass

AUDIO = 8
VIDEO = 9
DATA = 18


@dataclass(frozen=True, slots=True)
class MediaMessage:
    """One audio, video or script-data message, payload exactly as FLV carries it.

    ``timestamp`` is in milliseconds and already unwrapped: RTMP's 32-bit clock wraps
    after ~49.7 days, the sink sees an int that keeps growing instead.
    """

    kind: int  # 8 audio, 9 video, 18 data (AMF0 script)
    timestamp: int
    payload: bytes
