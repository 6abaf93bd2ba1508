"""CMAF fragments (moof+mdat): write a part's frames as one, and read one back.

`build_fragment` joins a part's frames (one `Fragment` each, from `cmaf.TrackFragmenter`)
into a single moof+mdat: one CMAF chunk, ~100 bytes of boxes per part instead of per frame.
Playlist and MPD durations are the sums of the same sample durations the trun carries.
`parse_fragment` reads any single-traf moof+mdat back (the tests check files with it).

Each chunk is preceded by a `prft` box (ISO/IEC 14496-12 §8.16.5, allowed before a CMAF
chunk's moof): the wall clock at which the part's first frame reached the packager, paired
with that frame's presentation time, as the DASH-IF low-latency guidelines want (players
measure their live latency with it). The part's byte range (LL-HLS, DASH chunks) covers it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from packager.isobmff import BOX_HEADER_SIZE, BoxError, BoxHeader, find_box, full_box, iter_boxes

TFHD_BASE_DATA_OFFSET = 0x000001
TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002
TFHD_DEFAULT_SAMPLE_DURATION = 0x000008
TFHD_DEFAULT_SAMPLE_SIZE = 0x000010
TFHD_DEFAULT_SAMPLE_FLAGS = 0x000020
TFHD_DEFAULT_BASE_IS_MOOF = 0x020000

TRUN_DATA_OFFSET = 0x000001
TRUN_FIRST_SAMPLE_FLAGS = 0x000004
TRUN_SAMPLE_DURATION = 0x000100
TRUN_SAMPLE_SIZE = 0x000200
TRUN_SAMPLE_FLAGS = 0x000400
TRUN_SAMPLE_COMPOSITION_OFFSET = 0x000800

SAMPLE_IS_NON_SYNC = 0x00010000
SAMPLE_DEPENDS_ON_OTHERS = 0x01000000  # sample_depends_on = 1
SAMPLE_DEPENDS_ON_NONE = 0x02000000  # sample_depends_on = 2: an I-frame, or audio

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (POSIX)
PRFT_INPUT_TO_ENCODER = 0  # flags: the wall clock is when the frame came in (MPD type "encoder")


@dataclass(frozen=True)
class TrunSample:
    """One sample with every field resolved (trun, else tfhd, else the trex defaults)."""

    duration: int
    size: int
    flags: int
    composition_offset: int


@dataclass(frozen=True)
class Fragment:
    """A parsed moof+mdat of one track (times in the track's timescale)."""

    track_id: int
    base_decode_time: int
    samples: list[TrunSample]
    payload: bytes  # the samples' bytes back to back (the mdat body they use)
    data: bytes = b""  # the moof+mdat as parsed

    @property
    def sample_count(self) -> int:
        return len(self.samples)

    @property
    def duration(self) -> int:
        return sum(sample.duration for sample in self.samples)

    @property
    def first_sample_is_sync(self) -> bool:
        return bool(self.samples) and not self.samples[0].flags & SAMPLE_IS_NON_SYNC


def parse_fragment(data: bytes, default_duration: int = 0, default_flags: int = 0) -> Fragment:
    """Parse a single-traf moof+mdat; the defaults are the trex values from the init segment.

    Data offsets are taken relative to the moof (FFmpeg writes default-base-is-moof).
    Raises BoxError on truncated or inconsistent boxes.
    """
    moof = find_box(data, "moof")
    mdat = find_box(data, "mdat")
    if moof is None or mdat is None:
        raise BoxError("fragment without moof or mdat")
    traf = find_box(data, "traf", moof.payload_offset, moof.end)
    if traf is None:
        raise BoxError("moof without traf")
    tfhd = find_box(data, "tfhd", traf.payload_offset, traf.end)
    tfdt = find_box(data, "tfdt", traf.payload_offset, traf.end)
    if tfhd is None or tfdt is None:
        raise BoxError("traf without tfhd or tfdt")
    track_id, duration, size, flags = _read_tfhd(data, tfhd, default_duration, default_flags)
    samples: list[TrunSample] = []
    data_start: int | None = None
    for header in iter_boxes(data, traf.payload_offset, traf.end):
        if header.type == "trun":
            offset, run = _read_trun(data, header, duration, size, flags)
            samples.extend(run)
            if data_start is None and offset is not None:
                data_start = moof.offset + offset
    data_start = mdat.payload_offset if data_start is None else data_start
    total = sum(sample.size for sample in samples)
    if data_start < mdat.payload_offset or data_start + total > mdat.end:
        raise BoxError("sample data outside mdat")
    payload = data[data_start : data_start + total]
    return Fragment(track_id, _read_tfdt(data, tfdt), samples, payload, bytes(data))


def _read_tfhd(data: bytes, tfhd: BoxHeader, duration: int, flags: int) -> tuple[int, int, int, int]:
    """(track_ID, default duration, default size, default flags), falling back to trex's."""
    _, tfhd_flags, pos = full_box(data, tfhd)
    size = 0
    try:
        (track_id,) = struct.unpack_from(">I", data, pos)
        pos += 4
        pos += 8 if tfhd_flags & TFHD_BASE_DATA_OFFSET else 0
        pos += 4 if tfhd_flags & TFHD_SAMPLE_DESCRIPTION_INDEX else 0
        if tfhd_flags & TFHD_DEFAULT_SAMPLE_DURATION:
            (duration,) = struct.unpack_from(">I", data, pos)
            pos += 4
        if tfhd_flags & TFHD_DEFAULT_SAMPLE_SIZE:
            (size,) = struct.unpack_from(">I", data, pos)
            pos += 4
        if tfhd_flags & TFHD_DEFAULT_SAMPLE_FLAGS:
            (flags,) = struct.unpack_from(">I", data, pos)
    except struct.error as exc:
        raise BoxError("truncated tfhd") from exc
    if pos > tfhd.end:
        raise BoxError("truncated tfhd")
    return track_id, duration, size, flags


def _read_tfdt(data: bytes, tfdt: BoxHeader) -> int:
    version, _, pos = full_box(data, tfdt)
    if pos + (8 if version == 1 else 4) > tfdt.end:
        raise BoxError("truncated tfdt")
    decode_time: int = struct.unpack_from(">Q" if version == 1 else ">I", data, pos)[0]
    return decode_time


def _read_trun(
    data: bytes, trun: BoxHeader, default_duration: int, default_size: int, default_flags: int
) -> tuple[int | None, list[TrunSample]]:
    version, flags, pos = full_box(data, trun)
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
        fields = [
            f
            for f in (TRUN_SAMPLE_DURATION, TRUN_SAMPLE_SIZE, TRUN_SAMPLE_FLAGS, TRUN_SAMPLE_COMPOSITION_OFFSET)
            if flags & f
        ]
        if pos + count * 4 * len(fields) > trun.end:
            raise BoxError("truncated trun")
        offset_format = ">i" if version == 1 else ">I"
        samples = []
        for index in range(count):
            values = {
                TRUN_SAMPLE_DURATION: default_duration,
                TRUN_SAMPLE_SIZE: default_size,
                TRUN_SAMPLE_FLAGS: default_flags,
                TRUN_SAMPLE_COMPOSITION_OFFSET: 0,
            }
            for field in fields:
                fmt = offset_format if field == TRUN_SAMPLE_COMPOSITION_OFFSET else ">I"
                (values[field],) = struct.unpack_from(fmt, data, pos)
                pos += 4
            if index == 0 and first_flags is not None:
                values[TRUN_SAMPLE_FLAGS] = first_flags
            samples.append(
                TrunSample(
                    values[TRUN_SAMPLE_DURATION],
                    values[TRUN_SAMPLE_SIZE],
                    values[TRUN_SAMPLE_FLAGS],
                    values[TRUN_SAMPLE_COMPOSITION_OFFSET],
                )
            )
    except struct.error as exc:
        raise BoxError("truncated trun") from exc
    return data_offset, samples


def build_fragment(sequence_number: int, fragments: list[Fragment], received: float | None = None) -> bytes:
    """One moof+mdat holding the samples of `fragments` (consecutive, same track), every
    sample field explicit in a version-1 trun (signed composition offsets, as CMAF wants);
    with `received` (POSIX seconds the first frame came in), a `prft` box before it."""
    first = fragments[0]
    samples = [sample for fragment in fragments for sample in fragment.samples]
    trun_flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE | TRUN_SAMPLE_FLAGS
    with_offsets = any(sample.composition_offset for sample in samples)
    if with_offsets:
        trun_flags |= TRUN_SAMPLE_COMPOSITION_OFFSET
    entry = struct.Struct(">IIIi" if with_offsets else ">III")
    entries = b"".join(
        entry.pack(s.duration, s.size, s.flags, s.composition_offset)
        if with_offsets
        else entry.pack(s.duration, s.size, s.flags)
        for s in samples
    )
    mfhd = _full_box_bytes("mfhd", 0, 0, struct.pack(">I", sequence_number))
    tfhd = _full_box_bytes("tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, struct.pack(">I", first.track_id))
    tfdt = _full_box_bytes("tfdt", 1, 0, struct.pack(">Q", first.base_decode_time))
    trun_size = BOX_HEADER_SIZE + 4 + 8 + len(entries)
    moof_size = 2 * BOX_HEADER_SIZE + len(mfhd) + len(tfhd) + len(tfdt) + trun_size
    trun = _full_box_bytes(
        "trun", 1, trun_flags, struct.pack(">Ii", len(samples), moof_size + BOX_HEADER_SIZE) + entries
    )
    moof = _box_bytes("moof", mfhd + _box_bytes("traf", tfhd + tfdt + trun))
    mdat = _box_bytes("mdat", b"".join(fragment.payload for fragment in fragments))
    if received is None:
        return moof + mdat
    presentation_time = first.base_decode_time + (first.samples[0].composition_offset if first.samples else 0)
    return producer_reference_box(first.track_id, received, presentation_time) + moof + mdat


def producer_reference_box(track_id: int, wall_clock: float, media_time: int) -> bytes:
    """A version-1 `prft`: NTP 32.32 fixed-point wall clock, 64-bit media time (track ticks)."""
    ntp = round((wall_clock + NTP_EPOCH_OFFSET) * (1 << 32))
    return _full_box_bytes("prft", 1, PRFT_INPUT_TO_ENCODER, struct.pack(">IQQ", track_id, ntp, media_time))


def parse_producer_reference(data: bytes) -> tuple[int, float, int] | None:
    """(reference track ID, POSIX wall clock, media time) of the first top-level `prft`, if any."""
    header = find_box(data, "prft")
    if header is None:
        return None
    version, _, pos = full_box(data, header)
    layout = ">IQQ" if version == 1 else ">IQI"
    if pos + struct.calcsize(layout) > header.end:
        raise BoxError("truncated prft")
    track_id, ntp, media_time = struct.unpack_from(layout, data, pos)
    return track_id, ntp / (1 << 32) - NTP_EPOCH_OFFSET, media_time


def _box_bytes(box_type: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", BOX_HEADER_SIZE + len(payload), box_type.encode()) + payload


def _full_box_bytes(box_type: str, version: int, flags: int, payload: bytes) -> bytes:
    return _box_bytes(box_type, struct.pack(">I", (version << 24) | flags) + payload)
