"""What VOD playback needs to know about a recording's tracks: each init's facts, the runs of
segments sharing an init, the bit rates a master playlist or an MPD advertises.

A recording is played back as it was recorded (no re-encode): its init segments say the
codecs, sizes and timescales; its index says how long and how big each segment is.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packager.isobmff import VISUAL_SAMPLE_ENTRY_SIZE, BoxError, find_box, full_box, parse_init, read_box_header
from packager.recording_layout import RecordedSegment, Recording

SAMPLE_ENTRY_WIDTH = 24  # offset of width, height in a VisualSampleEntry's payload


@dataclass(frozen=True)
class InitFacts:
    """One init segment's single track, as manifests advertise it."""

    codec: str
    timescale: int
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None  # how many (HLS CHANNELS)
    channel_configuration: int | None = None  # MPEG's (DASH AudioChannelConfiguration)


def init_facts(init: bytes) -> InitFacts:
    """Raises BoxError when the bytes are not an init segment."""
    info = parse_init(init)
    width, height = _visual_size(init)
    aac = info.aac
    return InitFacts(
        info.codec,
        info.timescale,
        width,
        height,
        info.sample_rate,
        aac.channel_count if aac and aac.channels else None,
        aac.channels if aac and aac.channels else None,
    )


def read_init_facts(recording: Recording) -> dict[str, InitFacts]:
    """Facts of every init the recording's segments use, by its file name in the recording."""
    names = {segment.init for segments in recording.tracks.values() for segment in segments}
    return {name: init_facts((recording.directory / name).read_bytes()) for name in sorted(names)}


def runs(segments: Sequence[RecordedSegment]) -> list[list[RecordedSegment]]:
    """Segments cut where one does not follow on from the one before (a discontinuity, or a
    new init, which always is one)."""
    found: list[list[RecordedSegment]] = []
    for segment in segments:
        if not found or segment.discontinuity or segment.init != found[-1][-1].init:
            found.append([])
        found[-1].append(segment)
    return found


def bit_rates(segments: Sequence[RecordedSegment]) -> tuple[int, int]:
    """(peak, average) bits per second over the segments (HLS BANDWIDTH, AVERAGE-BANDWIDTH)."""
    seconds = sum(segment.duration for segment in segments)
    if not seconds:
        return 0, 0
    average = sum(segment.size for segment in segments) * 8 / seconds
    peak = max((segment.size * 8 / segment.duration for segment in segments if segment.duration), default=average)
    return round(peak), round(average)


def playable(recording: Recording) -> bool:
    """Whether there is anything to play back."""
    return any(recording.tracks.get(track) for track in ("video", "audio"))


def segment_path(recording: Recording, segment: RecordedSegment) -> Path:
    return recording.directory / segment.file


def sample_entry(init: bytes) -> bytes:
    """The init's sample entry (codec, size, decoder configuration): what a player is told."""
    stsd = find_box(init, "moov/trak/mdia/minf/stbl/stsd")
    if stsd is None:
        raise BoxError("no stsd")
    _, _, pos = full_box(init, stsd)
    entry = read_box_header(init, pos + 4)
    if entry is None or entry.end > stsd.end:
        raise BoxError("truncated stsd")
    return init[entry.offset : entry.end]


def in_band_parameter_sets(init: bytes) -> bytes | None:
    """H.264: the avcC's SPS and PPS as NAL units with their length prefixes, as they would
    open a sample; None for another codec or an avcC this cannot read."""
    entry = sample_entry(init)
    if entry[4:8] not in (b"avc1", b"avc3"):
        return None
    avcc = find_box(entry, "avcC", 8 + VISUAL_SAMPLE_ENTRY_SIZE)
    if avcc is None:
        return None
    config = entry[avcc.payload_offset : avcc.end]
    try:
        length_size = (config[4] & 3) + 1
        pos, units = 5, []
        for mask in (0x1F, 0xFF):  # SPS count (5 bits), then PPS count
            count = config[pos] & mask
            pos += 1
            for _ in range(count):
                (size,) = struct.unpack_from(">H", config, pos)
                units.append(config[pos + 2 : pos + 2 + size])
                pos += 2 + size
    except (IndexError, struct.error):
        return None
    if any(not unit for unit in units):
        return None
    return b"".join(len(unit).to_bytes(length_size, "big") + unit for unit in units)


def _visual_size(init: bytes) -> tuple[int | None, int | None]:
    stsd = find_box(init, "moov/trak/mdia/minf/stbl/stsd")
    if stsd is None:
        return None, None
    _, _, pos = full_box(init, stsd)
    entry = read_box_header(init, pos + 4)
    if entry is None or entry.end > stsd.end:
        raise BoxError("truncated stsd")
    if entry.size < entry.header_size + VISUAL_SAMPLE_ENTRY_SIZE or find_box(init, "moov/trak/mdia/minf/vmhd") is None:
        return None, None
    width, height = struct.unpack_from(">HH", init, entry.payload_offset + SAMPLE_ENTRY_WIDTH)
    return width, height
