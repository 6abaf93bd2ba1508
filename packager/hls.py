"""LL-HLS playlist text (RFC 8216bis) from the window model. Pure functions, no I/O.

Media playlists list every segment of the window with EXT-X-PROGRAM-DATE-TIME, the parts of
the segments within three target durations of the end (and of the segment in progress), and
a preload hint naming the next part. A live media playlist is made of three pieces
(`playlist_text`): the header, the settled `Entry` of each segment whose parts are no longer
listed (never changes once made), and the tail (the newest segments, the hint, the reports).
Master playlists list one variant per video rendition, all sharing the single audio group.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from packager.window import Part, Segment

HLS_VERSION = 9
PART_HOLD_BACK_PARTS = 3
HOLD_BACK_TARGET_DURATIONS = 3
AUDIO_GROUP = "audio"
DURATION_EPSILON = 0.0005
SKIP_TARGET_DURATIONS = 6  # CAN-SKIP-UNTIL: the RFC's least (RFC 8216bis 4.4.3.8)


@dataclass(frozen=True)
class RenditionReport:
    """Where another rendition's playlist stands (EXT-X-RENDITION-REPORT)."""

    uri: str
    last_msn: int
    last_part: int


def target_duration(durations: Sequence[float], minimum: float = 1.0) -> int:
    """EXT-X-TARGETDURATION: the ceiling of the longest segment (never below `minimum`)."""
    longest = max([minimum, *durations])
    return max(1, math.ceil(longest - DURATION_EPSILON))


@dataclass(frozen=True)
class Entry:
    """A complete segment as a media playlist lists it for good (without parts): the node keeps
    these, so a part's update carries only the newly settled segments (see `playlist_text`).
    `lines` are its EXT-X-PROGRAM-DATE-TIME, EXT-X-GAP, EXTINF and URI lines; its
    EXT-X-DISCONTINUITY and EXT-X-MAP depend on where it stands, so they are flags here."""

    msn: int
    duration: float
    discontinuity: bool
    map_uri: str
    lines: str

    def plain(self) -> list[Any]:
        return [self.msn, self.duration, self.discontinuity, self.map_uri, self.lines]

    @classmethod
    def from_plain(cls, plain: Sequence[Any]) -> Entry:
        msn, duration, discontinuity, map_uri, lines = plain
        return cls(int(msn), float(duration), bool(discontinuity), str(map_uri), str(lines))

    def listed(self, previous_map: str | None) -> str:
        """Its text after a segment whose map is `previous_map` (None: it opens the list,
        or follows an EXT-X-SKIP: RFC 8216bis 6.2.5.1 keeps the Media Initialization Section
        of the first segment after a skip, so the map is always written there)."""
        discontinuity = "#EXT-X-DISCONTINUITY\n" if self.discontinuity else ""
        map_line = f'#EXT-X-MAP:URI="{self.map_uri}"\n' if self.map_uri != previous_map else ""
        return discontinuity + map_line + self.lines


def entry(segment: Segment, playlist_dir: str) -> Entry:
    """A complete segment's settled listing (see `Entry`)."""
    return Entry(
        segment.msn,
        segment.duration,
        segment.discontinuity,
        map_uri(segment, playlist_dir),
        _settled_lines(segment, playlist_dir),
    )


def map_uri(segment: Segment, playlist_dir: str) -> str:
    """The URI of the segment's EXT-X-MAP (its init segment)."""
    return _uri(segment.init_path, playlist_dir)


def playlist_header(
    *,
    target_duration: int,
    part_target: float,
    first_msn: int,
    discontinuity_sequence: int = 0,
    can_skip_until: float = 0.0,
) -> str:
    """The lines above the first segment. `can_skip_until` > 0 offers delta updates
    (EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL, RFC 8216bis 4.4.3.8)."""
    skip = f",CAN-SKIP-UNTIL={_decimal(can_skip_until)}" if can_skip_until > 0 else ""
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{HLS_VERSION}",
        f"#EXT-X-TARGETDURATION:{target_duration}",
        f"#EXT-X-PART-INF:PART-TARGET={_decimal(part_target)}",
        (
            f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES{skip},"
            f"PART-HOLD-BACK={_decimal(PART_HOLD_BACK_PARTS * part_target)},"
            f"HOLD-BACK={_decimal(HOLD_BACK_TARGET_DURATIONS * target_duration)}"
        ),
        f"#EXT-X-MEDIA-SEQUENCE:{first_msn}",
    ]
    if discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    return "\n".join(lines) + "\n"


def playlist_tail(
    segments: Sequence[Segment],
    *,
    playlist_dir: str,
    previous_map: str | None,
    parts_from_msn: int,
    preload_hint: str | None,
    ended: bool = False,
    rendition_reports: Sequence[RenditionReport] = (),
) -> str:
    """The lines below the settled entries: the newest segments (with their parts), the
    preload hint and rendition reports, or ENDLIST. `previous_map`: the map URI of the
    segment before the first of `segments` (None when they open the playlist).

    An ended playlist lists whole segments only: every segment is complete, and hls.js in
    low-latency mode was seen stalling on a finished playlist whose first segments had parts.
    """
    lines: list[str] = []
    current_map = previous_map
    for segment in segments:
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        uri = map_uri(segment, playlist_dir)
        if uri != current_map:
            current_map = uri
            lines.append(f'#EXT-X-MAP:URI="{uri}"')
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(segment.wall_clock)}")
        if not ended and segment.parts_served and (segment.msn >= parts_from_msn or not segment.complete):
            lines.extend(_part_line(part, playlist_dir) for part in segment.parts)
        if segment.gap:
            lines.append("#EXT-X-GAP")
        if segment.complete:
            lines.append(_segment_lines(segment, playlist_dir))
    if ended:
        lines.append("#EXT-X-ENDLIST")
    else:
        if preload_hint is not None:
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{_uri(preload_hint, playlist_dir)}"')
        lines.extend(
            f'#EXT-X-RENDITION-REPORT:URI="{report.uri}",LAST-MSN={report.last_msn},LAST-PART={report.last_part}'
            for report in rendition_reports
        )
    return "\n".join(lines) + "\n" if lines else ""


def media_playlist(
    segments: Sequence[Segment],
    *,
    playlist_dir: str,
    target_duration: int,
    part_target: float,
    parts_from_msn: int,
    preload_hint: str | None,
    ended: bool = False,
    discontinuity_sequence: int = 0,
    rendition_reports: Sequence[RenditionReport] = (),
    can_skip_until: float = 0.0,
) -> str:
    """A whole low-latency media playlist in one go (the live path sends it in pieces, see
    `playlist_text`). Paths in the model are relative to the output root; URIs are written
    relative to `playlist_dir`.

    A segment marked as a discontinuity keeps its EXT-X-DISCONTINUITY wherever it stands,
    the first line of the window included: `discontinuity_sequence` counts only the tags
    that have left the playlist (RFC 8216bis 6.2.2), so a tag that vanished at position 0
    would change the discontinuity sequence number of every segment after it for a
    reload, and a playlist that continues an older one (a restarted worker) starts with one.
    """
    header = playlist_header(
        target_duration=target_duration,
        part_target=part_target,
        first_msn=segments[0].msn if segments else 0,
        discontinuity_sequence=discontinuity_sequence,
        can_skip_until=can_skip_until,
    )
    tail = playlist_tail(
        segments,
        playlist_dir=playlist_dir,
        previous_map=None,
        parts_from_msn=parts_from_msn,
        preload_hint=preload_hint,
        ended=ended,
        rendition_reports=rendition_reports,
    )
    return header + tail


@dataclass(frozen=True)
class Variant:
    """One video rendition as the master playlist advertises it."""

    uri: str
    bandwidth: int
    average_bandwidth: int
    width: int | None
    height: int | None
    codecs: str
    frame_rate: float | None


@dataclass(frozen=True)
class AudioRendition:
    uri: str
    channels: int | None
    name: str = "audio"


def master_playlist(variants: Sequence[Variant], audio: AudioRendition | None) -> str:
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{HLS_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        channels = f',CHANNELS="{audio.channels}"' if audio.channels else ""
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="{audio.name}",'
            f'DEFAULT=YES,AUTOSELECT=YES{channels},URI="{audio.uri}"'
        )
    for variant in variants:
        attributes = [
            f"BANDWIDTH={variant.bandwidth}",
            f"AVERAGE-BANDWIDTH={variant.average_bandwidth}",
            f'CODECS="{variant.codecs}"',
        ]
        if variant.width and variant.height:
            attributes.append(f"RESOLUTION={variant.width}x{variant.height}")
        if variant.frame_rate:
            attributes.append(f"FRAME-RATE={variant.frame_rate:.3f}")
        if audio is not None:
            attributes.append(f'AUDIO="{AUDIO_GROUP}"')
        attributes.append("CLOSED-CAPTIONS=NONE")
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(variant.uri)
    return "\n".join(lines) + "\n"


def _part_line(part: Part, playlist_dir: str) -> str:
    """The part's EXT-X-PART line, formatted once (a playlist is rendered for every part)."""
    memo = part.hls_line
    if memo is None or memo[0] != playlist_dir:
        independent = ",INDEPENDENT=YES" if part.independent else ""
        line = f'#EXT-X-PART:DURATION={_decimal(part.duration)},URI="{_uri(part.path, playlist_dir)}"{independent}'
        memo = part.hls_line = (playlist_dir, line)
    return memo[1]


def _settled_lines(segment: Segment, playlist_dir: str) -> str:
    """A complete segment's lines without parts, map or discontinuity (an `Entry`'s)."""
    gap = "#EXT-X-GAP\n" if segment.gap else ""
    return (
        f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(segment.wall_clock)}\n{gap}"
        f"{_segment_lines(segment, playlist_dir)}\n"
    )


def _segment_lines(segment: Segment, playlist_dir: str) -> str:
    """A complete segment's EXTINF and URI lines, formatted once."""
    memo = segment.hls_lines
    if memo is None or memo[0] != playlist_dir:
        lines = f"#EXTINF:{_decimal(segment.duration)},\n{_uri(segment.path, playlist_dir)}"
        memo = segment.hls_lines = (playlist_dir, lines)
    return memo[1]


@lru_cache(maxsize=1024)
def program_date_time(posix_seconds: float) -> str:
    moment = datetime.fromtimestamp(posix_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decimal(value: float) -> str:
    text = f"{value:.5f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _uri(path: str, playlist_dir: str) -> str:
    prefix = f"{playlist_dir}/" if playlist_dir else ""
    if prefix and path.startswith(prefix):
        return path[len(prefix) :]  # the common case, without relpath's cost
    return posixpath.relpath(path, playlist_dir or ".")
