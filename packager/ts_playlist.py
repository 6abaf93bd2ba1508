"""Legacy HLS (version 3) playlists for MPEG-TS segments: the sliding media playlist and the master.

Kept apart from the muxing so the text rules of RFC 8216 (target duration rounding, media and
discontinuity sequence numbers, attribute quoting) can be read and tested on their own.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from packager.atomic import write_atomic
from packager.window import WindowSpan

MEDIA_PLAYLIST_NAME = "mpegts.m3u8"
MASTER_PLAYLIST_NAME = "master_mpegts.m3u8"


@dataclass(frozen=True)
class TsSegment:
    sequence: int
    path: str  # relative to the packager's out_dir, e.g. "origin/ts_12.ts"
    duration: float
    discontinuity: bool


@dataclass(frozen=True)
class TsVariant:
    rendition: str
    bandwidth: int
    resolution: tuple[int, int] | None
    codecs: str | None
    frame_rate: float | None
    average_bandwidth: int | None = None


def rounded_duration(seconds: float) -> int:
    """EXTINF rounded to the nearest integer, halves up, as the target-duration rule reads it."""
    return math.floor(seconds + 0.5)


class TsMediaPlaylist:
    """The live window of one rendition's segments and its text.

    The target duration only grows: RFC 8216 forbids changing it, and a live packager cannot know
    the longest segment in advance, so it starts at the first segment's and rises if a longer
    one comes (a source with a longer GOP than announced).
    """

    def __init__(self, window_segments: WindowSpan | int, start_sequence: int = 0, discontinuity_sequence: int = 0):
        """`window_segments`: the stream's shared `WindowSpan` (an int: a window of that many segments).
        `start_sequence` and `discontinuity_sequence` continue an older playlist of the
        same rendition (a restarted worker): its number of the next segment and the
        discontinuities before it."""
        span = window_segments
        self.span = span if isinstance(span, WindowSpan) else WindowSpan(span)
        self._segments: deque[TsSegment] = deque()
        self._media_sequence = start_sequence
        self._discontinuity_sequence = discontinuity_sequence
        self._has_discontinuity = discontinuity_sequence > 0
        self._target_duration = 1
        self.ended = False

    @property
    def segments(self) -> list[TsSegment]:
        return list(self._segments)

    @property
    def duration(self) -> float:
        return sum(segment.duration for segment in self._segments)

    @property
    def discontinuities(self) -> int:
        """Every EXT-X-DISCONTINUITY so far, slid out or listed: the last segment's
        discontinuity sequence number."""
        return self._discontinuity_sequence + sum(segment.discontinuity for segment in self._segments)

    @property
    def live_duration(self) -> float:
        """The newest `live_segments` segments' duration: how long a segment that left the
        playlist stays on disk (see `packager.window`)."""
        newest = itertools.islice(reversed(self._segments), self.span.live_segments)
        return sum(segment.duration for segment in newest)

    def add(self, segment: TsSegment) -> list[TsSegment]:
        """Append a segment; return the ones that slid out of the window."""
        self._segments.append(segment)
        self._has_discontinuity |= segment.discontinuity
        self._target_duration = max(self._target_duration, rounded_duration(segment.duration))
        return self.trim()

    def trim(self, restart: bool = False) -> list[TsSegment]:
        """Unlist what the span no longer covers (`restart`: all but the short live window);
        return the segments that slid out."""
        kept = self.span.keeps((segment.duration for segment in reversed(self._segments)), restart)
        slid_out = []
        while len(self._segments) > kept:
            old = self._segments.popleft()
            self._media_sequence = old.sequence + 1
            slid_out.append(old)
        for old in slid_out:
            if old.discontinuity:
                self._discontinuity_sequence += 1
        return slid_out

    def render(self) -> str:
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{self._target_duration}",
            f"#EXT-X-MEDIA-SEQUENCE:{self._media_sequence}",
        ]
        if self._has_discontinuity:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuity_sequence}")
        for segment in self._segments:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f"#EXTINF:{segment.duration:.3f},")
            lines.append(segment.path.rsplit("/", 1)[-1])
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def render_ts_master(variants: list[TsVariant]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for variant in variants:
        attributes = [f"BANDWIDTH={int(variant.bandwidth)}"]
        if variant.average_bandwidth:
            attributes.append(f"AVERAGE-BANDWIDTH={int(variant.average_bandwidth)}")
        if variant.resolution is not None:
            width, height = variant.resolution
            attributes.append(f"RESOLUTION={int(width)}x{int(height)}")
        if variant.frame_rate is not None:
            attributes.append(f"FRAME-RATE={variant.frame_rate:.3f}")
        if variant.codecs:
            attributes.append(f'CODECS="{variant.codecs}"')
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(f"{variant.rendition}/{MEDIA_PLAYLIST_NAME}")
    return "\n".join(lines) + "\n"


def write_ts_master(out_dir: Path, variants: list[TsVariant]) -> str:
    """Write `master_mpegts.m3u8` atomically; return its text. Variant URIs are `<rendition>/mpegts.m3u8`."""
    text = render_ts_master(variants)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / MASTER_PLAYLIST_NAME, text)
    return text
