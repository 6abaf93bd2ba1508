"""Just enough ISO-BMFF (MP4) parsing for a packager: box headers, fragment timing, codec strings.

The packager never trusts its own bookkeeping for durations: it reads them back from the
`moof` the muxer wrote (`tfdt` + `trun`), so playlists and the MPD say exactly what the files
hold. The init segment gives the track timescale and the RFC 6381 codec string.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator

BOX_HEADER_SIZE = 8
LARGE_BOX_HEADER_SIZE = 16

# tfhd flags
TFHD_BASE_DATA_OFFSET = 0x000001
TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002
TFHD_DEFAULT_SAMPLE_DURATION = 0x000008
TFHD_DEFAULT_SAMPLE_SIZE = 0x000010
TFHD_DEFAULT_SAMPLE_FLAGS = 0x000020

# trun flags
TRUN_DATA_OFFSET = 0x000001
TRUN_FIRST_SAMPLE_FLAGS = 0x000004
TRUN_SAMPLE_DURATION = 0x000100
TRUN_SAMPLE_SIZE = 0x000200
TRUN_SAMPLE_FLAGS = 0x000400
TRUN_SAMPLE_COMPOSITION_OFFSET = 0x000800

SAMPLE_IS_NON_SYNC = 0x00010000

CONTAINER_BOXES = {"moov", "trak", "mdia", "minf", "stbl", "moof", "traf", "mvex"}


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


def read_box_header(data: bytes | bytearray | memoryview, offset: int) -> BoxHeader | None:
    """The header of the box at `offset`, or None if not enough bytes are there yet.

    Raises BoxError on sizes that cannot be right (a size of 0, "to the end of file", is
    refused: a live muxer never writes it for the boxes we split on).
    """
    if len(data) - offset < BOX_HEADER_SIZE:
        return None
    size, raw_type = struct.unpack_from(">I4s", data, offset)
    header_size = BOX_HEADER_SIZE
    if size == 1:
        if len(data) - offset < LARGE_BOX_HEADER_SIZE:
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
        header = read_box_header(data[:end], offset)
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


@dataclass(frozen=True)
class FragmentTiming:
    """Timing of one `moof`+`mdat` fragment, in the track's timescale."""

    base_decode_time: int
    sample_count: int
    duration: int
    first_sample_is_sync: bool | None
    earliest_presentation_offset: int


def parse_fragment_timing(fragment: bytes, default_sample_duration: int = 0) -> FragmentTiming:
    """Read tfdt/tfhd/trun of the first track fragment in a moof+mdat pair."""
    moof = find_box(fragment, "moof")
    if moof is None:
        raise BoxError("no moof")
    traf = find_box(fragment, "traf", moof.payload_offset, moof.end)
    if traf is None:
        raise BoxError("no traf")
    tfhd = find_box(fragment, "tfhd", traf.payload_offset, traf.end)
    tfdt = find_box(fragment, "tfdt", traf.payload_offset, traf.end)
    if tfhd is None or tfdt is None:
        raise BoxError("traf without tfhd or tfdt")
    default_duration, default_flags = _read_tfhd_defaults(fragment, tfhd, default_sample_duration)
    base_decode_time = _read_tfdt(fragment, tfdt)
    sample_count = 0
    duration = 0
    first_flags: int | None = None
    min_offset: int | None = None
    for header in iter_boxes(fragment, traf.payload_offset, traf.end):
        if header.type != "trun":
            continue
        count, run_duration, run_first_flags, run_min_offset = _read_trun(
            fragment, header, default_duration, default_flags
        )
        if first_flags is None and count:
            first_flags = run_first_flags
        if run_min_offset is not None:
            min_offset = run_min_offset if min_offset is None else min(min_offset, run_min_offset)
        sample_count += count
        duration += run_duration
    first_is_sync = None if first_flags is None else not (first_flags & SAMPLE_IS_NON_SYNC)
    return FragmentTiming(base_decode_time, sample_count, duration, first_is_sync, min_offset or 0)


def _full_box(data: bytes, header: BoxHeader) -> tuple[int, int, int]:
    """(version, flags, offset after the version/flags word) of a full box."""
    if header.size < header.header_size + 4:
        raise BoxError(f"{header.type} too short")
    (word,) = struct.unpack_from(">I", data, header.payload_offset)
    return word >> 24, word & 0xFFFFFF, header.payload_offset + 4


def _read_tfhd_defaults(data: bytes, tfhd: BoxHeader, fallback_duration: int) -> tuple[int, int | None]:
    _, flags, pos = _full_box(data, tfhd)
    pos += 4  # track_ID
    if flags & TFHD_BASE_DATA_OFFSET:
        pos += 8
    if flags & TFHD_SAMPLE_DESCRIPTION_INDEX:
        pos += 4
    duration = fallback_duration
    sample_flags = None
    try:
        if flags & TFHD_DEFAULT_SAMPLE_DURATION:
            (duration,) = struct.unpack_from(">I", data, pos)
            pos += 4
        if flags & TFHD_DEFAULT_SAMPLE_SIZE:
            pos += 4
        if flags & TFHD_DEFAULT_SAMPLE_FLAGS:
            (sample_flags,) = struct.unpack_from(">I", data, pos)
    except struct.error as exc:
        raise BoxError("truncated tfhd") from exc
    return duration, sample_flags


def _read_tfdt(data: bytes, tfdt: BoxHeader) -> int:
    version, _, pos = _full_box(data, tfdt)
    try:
        return struct.unpack_from(">Q" if version == 1 else ">I", data, pos)[0]
    except struct.error as exc:
        raise BoxError("truncated tfdt") from exc


def _read_trun(
    data: bytes, trun: BoxHeader, default_duration: int, default_flags: int | None
) -> tuple[int, int, int | None, int | None]:
    """(sample count, total duration, first sample flags, minimum composition offset)."""
    version, flags, pos = _full_box(data, trun)
    try:
        (count,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if flags & TRUN_DATA_OFFSET:
            pos += 4
        first_flags = default_flags
        if flags & TRUN_FIRST_SAMPLE_FLAGS:
            (first_flags,) = struct.unpack_from(">I", data, pos)
            pos += 4
        per_sample = [
            f for f in (TRUN_SAMPLE_DURATION, TRUN_SAMPLE_SIZE, TRUN_SAMPLE_FLAGS, TRUN_SAMPLE_COMPOSITION_OFFSET)
            if flags & f
        ]
        if pos + count * 4 * len(per_sample) > trun.end:
            raise BoxError("truncated trun")
        total = 0
        min_offset: int | None = None
        offset_format = ">i" if version == 1 else ">I"
        for index in range(count):
            duration = default_duration
            for field in per_sample:
                if field == TRUN_SAMPLE_DURATION:
                    (duration,) = struct.unpack_from(">I", data, pos)
                elif field == TRUN_SAMPLE_FLAGS and index == 0 and not flags & TRUN_FIRST_SAMPLE_FLAGS:
                    (first_flags,) = struct.unpack_from(">I", data, pos)
                elif field == TRUN_SAMPLE_COMPOSITION_OFFSET:
                    (offset,) = struct.unpack_from(offset_format, data, pos)
                    min_offset = offset if min_offset is None else min(min_offset, offset)
                pos += 4
            total += duration
    except struct.error as exc:
        raise BoxError("truncated trun") from exc
    return count, total, first_flags, min_offset


@dataclass(frozen=True)
class TrackInfo:
    """What the init segment says about its single track."""

    timescale: int
    codec: str
    default_sample_duration: int
    default_sample_flags: int = 0


def parse_init(init: bytes) -> TrackInfo:
    """Timescale, RFC 6381 codec string and trex default duration of the first track."""
    mdhd = find_box(init, "moov/trak/mdia/mdhd")
    if mdhd is None:
        raise BoxError("no mdhd")
    version, _, pos = _full_box(init, mdhd)
    pos += 16 if version == 1 else 8  # creation + modification time
    try:
        (timescale,) = struct.unpack_from(">I", init, pos)
    except struct.error as exc:
        raise BoxError("truncated mdhd") from exc
    stsd = find_box(init, "moov/trak/mdia/minf/stbl/stsd")
    if stsd is None:
        raise BoxError("no stsd")
    codec = _codec_string(init, stsd)
    trex = find_box(init, "moov/mvex/trex")
    default_duration = default_flags = 0
    if trex is not None:
        _, _, pos = _full_box(init, trex)
        try:
            default_duration, _, default_flags = struct.unpack_from(">III", init, pos + 8)
        except struct.error as exc:
            raise BoxError("truncated trex") from exc
    return TrackInfo(timescale, codec, default_duration, default_flags)


VISUAL_SAMPLE_ENTRY_SIZE = 78  # fields before the child boxes of avc1/hvc1/...
AUDIO_SAMPLE_ENTRY_SIZE = 28


def _codec_string(data: bytes, stsd: BoxHeader) -> str:
    _, _, pos = _full_box(data, stsd)
    entry = read_box_header(data, pos + 4)
    if entry is None or entry.end > stsd.end:
        raise BoxError("truncated stsd")
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
    esds = find_box(data, "esds", entry.payload_offset + AUDIO_SAMPLE_ENTRY_SIZE, entry.end)
    if esds is None:
        return "mp4a.40.2"
    payload = data[esds.payload_offset + 4 : esds.end]
    # ES_Descriptor(0x03) > DecoderConfigDescriptor(0x04) > DecoderSpecificInfo(0x05)
    object_type = None
    audio_object_type = None
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
            if pos < len(payload):
                audio_object_type = payload[pos] >> 3
            break
        else:
            pos += length
    if object_type is None:
        return "mp4a.40.2"
    if object_type == 0x40 and audio_object_type:
        return f"mp4a.40.{audio_object_type}"
    return f"mp4a.{object_type:02x}"


@dataclass(frozen=True)
class Sample:
    """One sample of a fragment, with every field resolved (trun, else tfhd, else trex)."""

    duration: int
    size: int
    flags: int
    composition_offset: int


@dataclass(frozen=True)
class FragmentSamples:
    track_id: int
    base_decode_time: int
    samples: list[Sample]
    payload: bytes  # the mdat body: the samples' bytes back to back


def parse_fragment_samples(fragment: bytes, info: TrackInfo) -> FragmentSamples:
    """Every sample of a single-traf moof+mdat, as written by FFmpeg's mp4 muxer with
    default-base-is-moof (data offsets relative to the moof start)."""
    moof = find_box(fragment, "moof")
    mdat = find_box(fragment, "mdat")
    if moof is None or mdat is None:
        raise BoxError("fragment without moof or mdat")
    traf = find_box(fragment, "traf", moof.payload_offset, moof.end)
    tfhd = traf and find_box(fragment, "tfhd", traf.payload_offset, traf.end)
    tfdt = traf and find_box(fragment, "tfdt", traf.payload_offset, traf.end)
    if tfhd is None or tfdt is None:
        raise BoxError("traf without tfhd or tfdt")
    _, tfhd_flags, pos = _full_box(fragment, tfhd)
    (track_id,) = struct.unpack_from(">I", fragment, pos)
    default_duration, default_flags = _read_tfhd_defaults(fragment, tfhd, info.default_sample_duration)
    default_size = _read_tfhd_default_size(fragment, tfhd, tfhd_flags)
    if default_flags is None:
        default_flags = info.default_sample_flags
    samples: list[Sample] = []
    data_start: int | None = None
    for header in iter_boxes(fragment, traf.payload_offset, traf.end):
        if header.type == "trun":
            offset, run = _read_trun_samples(fragment, header, default_duration, default_size, default_flags)
            samples.extend(run)
            if data_start is None and offset is not None:
                data_start = moof.offset + offset
    data_start = mdat.payload_offset if data_start is None else data_start
    total = sum(sample.size for sample in samples)
    if data_start < mdat.payload_offset or data_start + total > mdat.end:
        raise BoxError("sample data outside mdat")
    payload = fragment[data_start : data_start + total]
    return FragmentSamples(track_id, _read_tfdt(fragment, tfdt), samples, payload)


def _read_tfhd_default_size(data: bytes, tfhd: BoxHeader, flags: int) -> int:
    pos = tfhd.payload_offset + 8
    pos += 8 if flags & TFHD_BASE_DATA_OFFSET else 0
    pos += 4 if flags & TFHD_SAMPLE_DESCRIPTION_INDEX else 0
    pos += 4 if flags & TFHD_DEFAULT_SAMPLE_DURATION else 0
    if flags & TFHD_DEFAULT_SAMPLE_SIZE:
        try:
            return struct.unpack_from(">I", data, pos)[0]
        except struct.error as exc:
            raise BoxError("truncated tfhd") from exc
    return 0


def _read_trun_samples(
    data: bytes, trun: BoxHeader, default_duration: int, default_size: int, default_flags: int
) -> tuple[int | None, list[Sample]]:
    version, flags, pos = _full_box(data, trun)
    try:
        (count,) = struct.unpack_from(">I", data, pos)
        pos += 4
        data_offset = None
        if flags & TRUN_DATA_OFFSET:
            (data_offset,) = struct.unpack_from(">i", data, pos)
            pos += 4
        first_flags = None
        if flags & TRUN_FIRST_SAMPLE_FLAGS:
            (first_flags,) = struct.unpack_from(">I", data, pos)
            pos += 4
        fields = sum(bool(flags & f) for f in (TRUN_SAMPLE_DURATION, TRUN_SAMPLE_SIZE, TRUN_SAMPLE_FLAGS,
                                                TRUN_SAMPLE_COMPOSITION_OFFSET))
        if pos + count * 4 * fields > trun.end:
            raise BoxError("truncated trun")
        samples = []
        for index in range(count):
            duration, size, sample_flags, cto = default_duration, default_size, default_flags, 0
            if flags & TRUN_SAMPLE_DURATION:
                (duration,) = struct.unpack_from(">I", data, pos)
                pos += 4
            if flags & TRUN_SAMPLE_SIZE:
                (size,) = struct.unpack_from(">I", data, pos)
                pos += 4
            if flags & TRUN_SAMPLE_FLAGS:
                (sample_flags,) = struct.unpack_from(">I", data, pos)
                pos += 4
            if index == 0 and first_flags is not None:
                sample_flags = first_flags
            if flags & TRUN_SAMPLE_COMPOSITION_OFFSET:
                (cto,) = struct.unpack_from(">i" if version == 1 else ">I", data, pos)
                pos += 4
            samples.append(Sample(duration, size, sample_flags, cto))
    except struct.error as exc:
        raise BoxError("truncated trun") from exc
    return data_offset, samples


def build_fragment(sequence_number: int, track_id: int, base_decode_time: int,
                   samples: list[Sample], payload: bytes) -> bytes:
    """One moof+mdat holding `samples` (every field explicit in a version-1 trun)."""
    mfhd = _full_box_bytes("mfhd", 0, 0, struct.pack(">I", sequence_number))
    tfhd = _full_box_bytes("tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, struct.pack(">I", track_id))
    tfdt = _full_box_bytes("tfdt", 1, 0, struct.pack(">Q", base_decode_time))
    trun_flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE | TRUN_SAMPLE_FLAGS
    if any(sample.composition_offset for sample in samples):
        trun_flags |= TRUN_SAMPLE_COMPOSITION_OFFSET
    entries = bytearray()
    for sample in samples:
        entries += struct.pack(">III", sample.duration, sample.size, sample.flags)
        if trun_flags & TRUN_SAMPLE_COMPOSITION_OFFSET:
            entries += struct.pack(">i", sample.composition_offset)
    trun_size = BOX_HEADER_SIZE + 4 + 8 + len(entries)
    moof_size = BOX_HEADER_SIZE + len(mfhd) + BOX_HEADER_SIZE + len(tfhd) + len(tfdt) + trun_size
    data_offset = moof_size + BOX_HEADER_SIZE
    trun = _full_box_bytes("trun", 1, trun_flags, struct.pack(">Ii", len(samples), data_offset) + bytes(entries))
    traf = _box_bytes("traf", tfhd + tfdt + trun)
    moof = _box_bytes("moof", mfhd + traf)
    return moof + _box_bytes("mdat", payload)


TFHD_DEFAULT_BASE_IS_MOOF = 0x020000


def _box_bytes(box_type: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", BOX_HEADER_SIZE + len(payload), box_type.encode()) + payload


def _full_box_bytes(box_type: str, version: int, flags: int, payload: bytes) -> bytes:
    return _box_bytes(box_type, struct.pack(">I", (version << 24) | flags) + payload)
