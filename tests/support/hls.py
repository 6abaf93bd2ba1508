"""A small HLS playlist reader for tests: enough structure to check what players rely on."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def attributes(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in ATTRIBUTE.findall(text)}


@dataclass
class Part:
    uri: str
    duration: float
    independent: bool


@dataclass
class Segment:
    uri: str
    duration: float
    msn: int
    parts: list[Part] = field(default_factory=list)
    discontinuity: bool = False
    program_date_time: str | None = None
    gap: bool = False  # EXT-X-GAP: not to be loaded
    map_uri: str | None = None  # the EXT-X-MAP (init segment) in effect


@dataclass
class MediaPlaylist:
    tags: dict[str, list[str]]
    segments: list[Segment]
    pending_parts: list[Part]  # parts of the segment in progress
    preload_hint: dict[str, str] | None
    ended: bool

    def tag(self, name: str) -> str | None:
        values = self.tags.get(name)
        return values[0] if values else None

    @property
    def media_sequence(self) -> int:
        return int(self.tag("EXT-X-MEDIA-SEQUENCE") or 0)

    @property
    def target_duration(self) -> int:
        return int(self.tag("EXT-X-TARGETDURATION"))


def parse_media_playlist(text: str) -> MediaPlaylist:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines and lines[0] == "#EXTM3U", "not an M3U8 playlist"
    tags: dict[str, list[str]] = {}
    segments: list[Segment] = []
    parts: list[Part] = []
    duration = None
    discontinuity = gap = False
    pdt = map_uri = None
    hint = None
    sequence = None
    for line in lines[1:]:
        if line.startswith("#"):
            name, _, value = line[1:].partition(":")
            tags.setdefault(name, []).append(value)
            if name == "EXT-X-MEDIA-SEQUENCE":
                sequence = int(value)
            elif name == "EXTINF":
                duration = float(value.split(",")[0])
            elif name == "EXT-X-PART":
                a = attributes(value)
                parts.append(Part(a["URI"], float(a["DURATION"]), a.get("INDEPENDENT") == "YES"))
            elif name == "EXT-X-DISCONTINUITY":
                discontinuity = True
            elif name == "EXT-X-GAP":
                gap = True
            elif name == "EXT-X-PROGRAM-DATE-TIME":
                pdt = value
            elif name == "EXT-X-PRELOAD-HINT":
                hint = attributes(value)
            elif name == "EXT-X-MAP":
                map_uri = attributes(value)["URI"]
            continue
        assert duration is not None, f"URI without EXTINF: {line}"
        msn = (sequence or 0) + len(segments)
        segments.append(Segment(line, duration, msn, parts, discontinuity, pdt, gap, map_uri))
        duration, parts, discontinuity, pdt, gap = None, [], False, None, False
    return MediaPlaylist(tags, segments, parts, hint, "EXT-X-ENDLIST" in tags)


@dataclass
class Variant:
    uri: str
    attributes: dict[str, str]


def parse_master_playlist(text: str) -> tuple[list[Variant], list[dict[str, str]]]:
    """(variants, EXT-X-MEDIA renditions)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "#EXTM3U"
    variants, media = [], []
    pending = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = attributes(line.partition(":")[2])
        elif line.startswith("#EXT-X-MEDIA:"):
            media.append(attributes(line.partition(":")[2]))
        elif not line.startswith("#") and pending is not None:
            variants.append(Variant(line, pending))
            pending = None
    return variants, media
