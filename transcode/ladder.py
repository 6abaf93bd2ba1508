"""The ABR ladder of one stream: which renditions to encode for this source, at what size.

A quality set's rungs come from the database (the supervisor resolves them at publish time);
here they meet the source. A rung taller than the source is skipped (never upscale). The
output keeps the source's aspect ratio: the rung's height is kept and the width follows, both
rounded to even numbers (4:2:0 chroma needs them), so an odd 321x241 source still encodes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Rendition:
    """One rung: `video_bitrate`/`audio_bitrate` in kbit/s, as quality sets store them."""

    name: str
    width: int
    height: int
    video_bitrate: int
    audio_bitrate: int = 128
    max_frame_rate: float = 30.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Rendition:
        return cls(**data)


@dataclass(frozen=True)
class PlannedRendition:
    """A rung that will be encoded, with the output size worked out for this source."""

    rendition: Rendition
    width: int
    height: int

    @property
    def name(self) -> str:
        return self.rendition.name

    @property
    def bits_per_second(self) -> int:
        return self.rendition.video_bitrate * 1000


def plan(ladder: list[Rendition], source_width: int, source_height: int) -> list[PlannedRendition]:
    """The rungs to encode for a `source_width`x`source_height` source, tallest first."""
    if source_width <= 0 or source_height <= 0:
        return []
    planned = []
    for rung in sorted(ladder, key=lambda r: r.height, reverse=True):
        if rung.height > source_height:
            continue
        height = even(rung.height)
        width = even(rung.height * source_width / source_height)
        planned.append(PlannedRendition(rung, width, height))
    return planned


def even(value: float) -> int:
    """The nearest even integer, at least 2."""
    return max(2, round(value / 2) * 2)
