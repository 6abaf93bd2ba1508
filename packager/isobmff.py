"""Just enough ISO-BMFF (MP4) reading for a packager: box headers and the init segment.

The init segment gives the track timescale, the trex defaults the fragments lean on, and the
RFC 6381 codec string the master playlist and the MPD advertise. Fragments: see `moof`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from packager.aac import AacConfig, try_parse_audio_specific_config

BOX_HEADER_SIZE = 8
LARGE_BOX_HEADER_SIZE = 16


class BoxError(ValueError):
    """The bytes are not the ISO-BMFF structure the packager expects."""


@dataclass(frozen=True)
class BoxHeader:
    type: str
    offset: int
    size: int
    header_size: int

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header_size


def read_box_header(data: bytes | bytearray | memoryview, offset: int, end: int | None = None) -> BoxHeader | None:
    """The header of the box at `offset`, or None if not enough bytes are there yet.

    Raises BoxError on sizes that cannot be right (a size of 0, "to the end of file", is
    refused: a live muxer never writes it for the boxes we split on).
    """
    end = len(data) if end is None else end
    if end - offset < BOX_HEADER_SIZE:
        return None
    size, raw_type = struct.unpack_from(">I4s", data, offset)
    header_size = BOX_HEADER_SIZE
    if size == 1:
        if end - offset < LARGE_BOX_HEADER_SIZE:
            return None
        (size,) = struct.unpack_from(">Q", data, offset + BOX_HEADER_SIZE)
        header_size = LARGE_BOX_HEADER_SIZE
    if size < header_size:
        raise BoxError(f"box at {offset} has impossible size {size}")
    return BoxHeader(raw_type.decode("latin-1"), offset, size, header_size)


def iter_boxes(data: bytes | memoryview, start: int = 0, end: int | None = None) -> Iterator[BoxHeader]:
    """Complete boxes laid end to end in data[start:end]; BoxError if one overruns."""
    end = len(data) if end is None else end
    offset = start
    while offset < end:
        header = read_box_header(data, offset, end)
        if header is None or header.end > end:
            raise BoxError(f"truncated box at {offset}")
        yield header
        offset = header.end


def find_box(data: bytes, path: str, start: int = 0, end: int | None = None) -> BoxHeader | None:
    """First box along a slash-separated path ("moov/trak/mdia/mdhd") inside data[start:end]."""
    first, _, rest = path.partition("/")
    for header in iter_boxes(data, start, end):
        if header.type != first:
            continue
        if not rest:
            return header
        return find_box(data, rest, header.payload_offset, header.end)
    return None


def full_box(data: bytes, header: BoxHeader) -> tuple[int, int, int]:
    """(version, flags, offset after the version/flags word) of a full box."""
    if header.size < header.header_size + 4:
        raise BoxError(f"{header.type} too short")
    (word,) = struct.unpack_from(">I", data, header.payload_offset)
    return word >> 24, word & 0xFFFFFF, header.payload_offset + 4


@dataclass(frozen=True)
class TrackInfo:
    """What the init segment says about its single track."""

    timescale: int
    codec: str
    default_sample_duration: int
    default_sample_flags: int = 0
    aac: AacConfig | None = None  # AAC: its AudioSpecificConfig, the truth about rate and channels

    @property
    def sample_rate(self) -> int | None:
        return self.aac.sample_rate if self.aac else None


def parse_init(init: bytes) -> TrackInfo:
    """Timescale, RFC 6381 codec string and trex default duration of the first track."""
    mdhd = find_box(init, "moov/trak/mdia/mdhd")
    if mdhd is None:
        raise BoxError("no mdhd")
    version, _, pos = full_box(init, mdhd)
    pos += 16 if version == 1 else 8  # creation + modification time
    try:
        (timescale,) = struct.unpack_from(">I", init, pos)
    except struct.error as exc:
        raise BoxError("truncated mdhd") from exc
    stsd = find_box(init, "moov/trak/mdia/minf/stbl/stsd")
    if stsd is None:
        raise BoxError("no stsd")
    codec = _codec_string(init, stsd)
    aac = _aac_config(init, stsd) if codec.startswith("mp4a") else None
    trex = find_box(init, "moov/mvex/trex")
    default_duration = default_flags = 0
    if trex is not None:
        _, _, pos = full_box(init, trex)
        try:
            default_duration, _, default_flags = struct.unpack_from(">III", init, pos + 8)
        except struct.error as exc:
            raise BoxError("truncated trex") from exc
    return TrackInfo(timescale, codec, default_duration, default_flags, aac)


VISUAL_SAMPLE_ENTRY_SIZE = 78  # fields before the child boxes of avc1/hvc1/...
AUDIO_SAMPLE_ENTRY_SIZE = 28


def _sample_entry(data: bytes, stsd: BoxHeader) -> BoxHeader:
    _, _, pos = full_box(data, stsd)
    entry = read_box_header(data, pos + 4)
    if entry is None or entry.end > stsd.end:
        raise BoxError("truncated stsd")
    return entry


def _aac_config(data: bytes, stsd: BoxHeader) -> AacConfig | None:
    object_type, config = _esds_config(data, _sample_entry(data, stsd))
    return try_parse_audio_specific_config(config) if object_type == MPEG4_AUDIO else None


def _codec_string(data: bytes, stsd: BoxHeader) -> str:
    entry = _sample_entry(data, stsd)
    kind = entry.type
    if kind in ("avc1", "avc3"):
        avcc = find_box(data, "avcC", entry.payload_offset + VISUAL_SAMPLE_ENTRY_SIZE, entry.end)
        if avcc is None or avcc.size < avcc.header_size + 4:
            return kind
        profile, constraints, level = data[avcc.payload_offset + 1 : avcc.payload_offset + 4]
        return f"{kind}.{profile:02x}{constraints:02x}{level:02x}"
    if kind == "mp4a":
        return _mp4a_codec_string(data, entry)
    if kind == "Opus":
        return "opus"
    return kind


def _mp4a_codec_string(data: bytes, entry: BoxHeader) -> str:
    object_type, config = _esds_config(data, entry)
    if object_type is None:
        return "mp4a.40.2"
    if object_type == MPEG4_AUDIO and config:
        return f"mp4a.40.{config[0] >> 3}"
    return f"mp4a.{object_type:02x}"


MPEG4_AUDIO = 0x40  # objectTypeIndication of MPEG-4 audio (AAC)


def _esds_config(data: bytes, entry: BoxHeader) -> tuple[int | None, bytes]:
    """(objectTypeIndication, DecoderSpecificInfo bytes) from the esds of an mp4a entry."""
    esds = find_box(data, "esds", entry.payload_offset + AUDIO_SAMPLE_ENTRY_SIZE, entry.end)
    if esds is None:
        return None, b""
    payload = data[esds.payload_offset + 4 : esds.end]
    # ES_Descriptor(0x03) > DecoderConfigDescriptor(0x04) > DecoderSpecificInfo(0x05)
    object_type = None
    pos = 0
    while pos < len(payload):
        tag = payload[pos]
        pos += 1
        length = 0
        for _ in range(4):
            if pos >= len(payload):
                break
            byte = payload[pos]
            pos += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        if tag == 0x03:
            pos += 3  # ES_ID + flags (no optional fields from FFmpeg)
        elif tag == 0x04:
            object_type = payload[pos] if pos < len(payload) else None
            pos += 13
        elif tag == 0x05:
            return object_type, payload[pos : pos + length]
        else:
            pos += length
    return object_type, b""
