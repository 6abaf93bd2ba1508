"""The MP4 download of a recording: one fragmented MP4 with the video and the audio, put
together while it is served, never written to disk.

```
ftyp, moov   the tracks' inits merged: video track 1, audio track 2; mvex with mehd (duration)
sidx         one entry per video segment (with the audio after it): seeking needs no scan
segments     the recorded segments (prft+moof+mdat per part) interleaved by time, as recorded
```

Two fields of each `moof` are patched on the way out: tfhd's track_ID (every recorded init
says track 1) and tfdt's base decode time (made continuous across the recording's
discontinuities, so the file plays as the playlists do, without the publisher's absence and
without going back when a new worker started its timeline again). Patching changes no size
(the one addition, below, is known from the inits), so where every byte lies is known from
the index up front: a Range request reads the few
segments it covers, and a 4-hour recording is never held in memory (moofs are read one
segment at a time; mdats are sent from the files as they are).

The sample entries are the first init's of each track. When the video's format changed
mid-way (a new init: another size, profile), every video segment carries its own init's SPS
and PPS in front of its first sample (`_parameter_set_prefixes`; the sizes stay known up
front), which FFmpeg and Chromium follow. Limit: an audio format change, or a video codec
other than H.264 changing format, plays in this file up to the change; HLS and DASH play all
of it (they switch inits).
"""

from __future__ import annotations

import os
import struct
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from packager.isobmff import LARGE_BOX_HEADER_SIZE, BoxError, BoxHeader, find_box, full_box, read_box_header
from packager.moof import TRUN_DATA_OFFSET, TRUN_FIRST_SAMPLE_FLAGS, TRUN_SAMPLE_DURATION, TRUN_SAMPLE_SIZE
from packager.recording_layout import RecordedSegment, Recording
from packager.vod_tracks import in_band_parameter_sets, sample_entry

TRACK_IDS = {"video": 1, "audio": 2}
HEADER_READ = 16  # enough for any box header


@dataclass(frozen=True)
class Piece:
    """One recorded segment's place in the file."""

    segment: RecordedSegment
    track_id: int
    offset: int
    decode_start: int  # the base decode time its first fragment gets (ticks of its track)
    prefix: bytes = b""  # parameter sets put in front of its first sample (see `mp4_file`)

    @property
    def size(self) -> int:
        return self.segment.size + len(self.prefix)

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class FileSpan:
    """Bytes to send from a file as they are."""

    path: Path
    offset: int
    count: int


@dataclass(frozen=True)
class Mp4File:
    directory: Path
    head: bytes  # ftyp + moov + sidx
    pieces: list[Piece]
    size: int

    @cached_property
    def offsets(self) -> list[int]:
        return [piece.offset for piece in self.pieces]

    def parts(self, start: int, end: int) -> Iterator[bytes | FileSpan]:
        """Bytes [start, end) of the file: in-memory bytes and spans of recorded files
        (blocking reads: call it off the event loop)."""
        if start < len(self.head):
            yield self.head[start : min(end, len(self.head))]
        for piece, low, high in self.overlapping(start, end):
            yield from self.piece_parts(piece, low, high)

    def overlapping(self, start: int, end: int) -> Iterator[tuple[Piece, int, int]]:
        """The pieces bytes [start, end) cover, each with the range of its own bytes (no I/O)."""
        first = max(0, bisect_right(self.offsets, start) - 1)
        for piece in self.pieces[first:]:
            if piece.offset >= end:
                break
            if piece.end > start:
                yield piece, max(start, piece.offset) - piece.offset, min(end, piece.end) - piece.offset

    def piece_parts(self, piece: Piece, low: int, high: int) -> Iterator[bytes | FileSpan]:
        """Bytes [low, high) of one piece, its moofs patched."""
        position = 0  # in the piece as served
        for chunk in self._piece_chunks(piece, high):
            length = chunk.count if isinstance(chunk, FileSpan) else len(chunk)
            if position + length > low:
                begin, end = max(low, position) - position, min(high, position + length) - position
                if isinstance(chunk, FileSpan):
                    yield FileSpan(chunk.path, chunk.offset + begin, end - begin)
                else:
                    yield chunk[begin:end]
            position += length
            if position >= high:
                return

    def _piece_chunks(self, piece: Piece, high: int) -> Iterator[bytes | FileSpan]:
        """The piece as served, in order: patched moofs (and the first mdat's header with the
        prefix after it) from memory, the rest as spans of its file; up to about `high`."""
        path = self.directory / piece.segment.file
        fd = os.open(path, os.O_RDONLY)
        try:
            shift: int | None = None
            prefix = piece.prefix
            for box in _boxes(fd, piece.segment.size):
                if box.offset >= high:
                    break
                if box.type == "moof":
                    moof = bytearray(os.pread(fd, box.size, box.offset))
                    shift = _patch_moof(moof, piece, shift, len(prefix))
                    yield bytes(moof)
                elif box.type == "mdat" and prefix:
                    header = bytearray(os.pread(fd, box.header_size, box.offset))
                    large = box.header_size == LARGE_BOX_HEADER_SIZE
                    struct.pack_into(">Q" if large else ">I", header, 8 if large else 0, box.size + len(prefix))
                    yield bytes(header) + prefix
                    yield FileSpan(path, box.payload_offset, box.end - box.payload_offset)
                    prefix = b""
                else:
                    yield FileSpan(path, box.offset, box.size)
        finally:
            os.close(fd)


def mp4_file(recording: Recording) -> Mp4File:
    """The file's layout from the recording's index and inits (reads the inits only)."""
    tracks = {name: segments for name, segments in recording.tracks.items() if name in TRACK_IDS and segments}
    if not tracks:
        raise BoxError("nothing recorded")
    ordered = _interleaved(tracks)
    reference = "video" if "video" in tracks else "audio"
    inits = {name: (recording.directory / segments[0].init).read_bytes() for name, segments in tracks.items()}
    moov_part = _ftyp(inits[reference]) + _merged_moov(inits, reference, recording.duration)
    sidx_size = 40 + 12 * len(tracks[reference])
    offset = len(moov_part) + sidx_size
    prefixes = _parameter_set_prefixes(recording, tracks.get("video", []))
    pieces = []
    for track, segment, decode_start in ordered:
        prefix = prefixes.get(segment.init, b"") if track == "video" else b""
        piece = Piece(segment, TRACK_IDS[track], offset, decode_start, prefix)
        pieces.append(piece)
        offset += piece.size
    sidx = _sidx(pieces, TRACK_IDS[reference], tracks[reference][0].timescale, offset)
    return Mp4File(recording.directory, moov_part + sidx, pieces, offset)


def _parameter_set_prefixes(recording: Recording, video: list[RecordedSegment]) -> dict[str, bytes]:
    """When the video's format changed mid-recording (inits whose sample entries differ), each
    video segment gets its own init's SPS and PPS in front of its first sample: the file's one
    sample entry is the first init's, and players (FFmpeg, Chromium) follow parameter sets met
    in the stream, not a fragment's `sample_description_index`. Every segment, so that a seek
    anywhere decodes. H.264 only (else none: the file plays up to the change)."""
    inits = {segment.init: (recording.directory / segment.init).read_bytes() for segment in video}
    if len({sample_entry(init) for init in inits.values()}) < 2:
        return {}
    found = {name: in_band_parameter_sets(init) for name, init in inits.items()}
    return {name: sets for name, sets in found.items() if sets} if all(found.values()) else {}


def _interleaved(tracks: dict[str, list[RecordedSegment]]) -> list[tuple[str, RecordedSegment, int]]:
    """Every segment with its decode start, in order of playback time (video first at a tie)."""
    placed = []
    for track, segments in tracks.items():
        ticks = 0
        for segment in segments:
            placed.append((ticks / segment.timescale, track != "video", track, segment, ticks))
            ticks += segment.ticks
    placed.sort(key=lambda item: (item[0], item[1]))
    return [(track, segment, ticks) for _, _, track, segment, ticks in placed]


def _boxes(fd: int, size: int) -> Iterator[BoxHeader]:
    """Top-level box headers in the first `size` bytes of the file."""
    offset = 0
    while offset < size:
        header = read_box_header(os.pread(fd, HEADER_READ, offset), 0)
        if header is None:
            return
        yield BoxHeader(header.type, offset, min(header.size, size - offset), header.header_size)
        offset += header.size


def _patch_moof(moof: bytearray, piece: Piece, shift: int | None, grow: int = 0) -> int:
    """Sets tfhd's track_ID, moves tfdt by `shift` (the first moof's sets it) and makes the
    first sample `grow` bytes longer (the prefix in front of it); the shift."""
    data = bytes(moof)
    tfhd = find_box(data, "moof/traf/tfhd")
    tfdt = find_box(data, "moof/traf/tfdt")
    if tfhd is None or tfdt is None:
        raise BoxError("moof without tfhd or tfdt")
    _, _, pos = full_box(data, tfhd)
    struct.pack_into(">I", moof, pos, piece.track_id)
    version, _, pos = full_box(data, tfdt)
    layout = ">Q" if version == 1 else ">I"
    (decode_time,) = struct.unpack_from(layout, moof, pos)
    if shift is None:
        shift = piece.decode_start - decode_time
    struct.pack_into(layout, moof, pos, (decode_time + shift) % (1 << (64 if version == 1 else 32)))
    if grow:
        _grow_first_sample(moof, grow)
    return shift


def _grow_first_sample(moof: bytearray, grow: int) -> None:
    trun = find_box(bytes(moof), "moof/traf/trun")
    if trun is None:
        raise BoxError("moof without trun")
    _, flags, pos = full_box(bytes(moof), trun)
    if not flags & TRUN_SAMPLE_SIZE:
        raise BoxError("trun without sample sizes")
    pos += 4 + 4 * bool(flags & TRUN_DATA_OFFSET) + 4 * bool(flags & TRUN_FIRST_SAMPLE_FLAGS)
    pos += 4 * bool(flags & TRUN_SAMPLE_DURATION)
    (size,) = struct.unpack_from(">I", moof, pos)
    struct.pack_into(">I", moof, pos, size + grow)


def _ftyp(init: bytes) -> bytes:
    ftyp = find_box(init, "ftyp")
    if ftyp is None:
        raise BoxError("init without ftyp")
    return init[ftyp.offset : ftyp.end]


def _merged_moov(inits: dict[str, bytes], reference: str, seconds: float) -> bytes:
    """moov: the reference init's mvhd, each init's trak and trex renumbered, mehd."""
    mvhd = bytearray(_box(inits[reference], "moov/mvhd"))
    version = mvhd[8]
    (timescale,) = struct.unpack_from(">I", mvhd, 28 if version == 1 else 20)
    struct.pack_into(">I", mvhd, len(mvhd) - 4, max(TRACK_IDS.values()) + 1)  # next_track_ID
    traks = b""
    trexes = b""
    for name in ("video", "audio"):
        if name not in inits:
            continue
        trak = bytearray(_box(inits[name], "moov/trak"))
        tkhd = find_box(bytes(trak), "trak/tkhd")
        if tkhd is None:
            raise BoxError("trak without tkhd")
        tkhd_version, _, pos = full_box(bytes(trak), tkhd)
        struct.pack_into(">I", trak, pos + (16 if tkhd_version == 1 else 8), TRACK_IDS[name])
        traks += trak
        trex = bytearray(_box(inits[name], "moov/mvex/trex"))
        struct.pack_into(">I", trex, 12, TRACK_IDS[name])
        trexes += trex
    mehd = _full_box("mehd", 1, struct.pack(">Q", round(seconds * timescale)))
    return _plain_box("moov", bytes(mvhd) + traks + _plain_box("mvex", mehd + trexes))


def _sidx(pieces: list[Piece], reference_id: int, timescale: int, end: int) -> bytes:
    """One reference per segment of the reference track, covering the bytes up to the next."""
    starts = [piece for piece in pieces if piece.track_id == reference_id]
    entries = b""
    for number, piece in enumerate(starts):
        following = starts[number + 1].offset if number + 1 < len(starts) else end
        entries += struct.pack(">III", following - piece.offset, piece.segment.ticks, 0x90000000)  # SAP type 1
    first_offset = starts[0].offset - pieces[0].offset
    payload = struct.pack(">IIQQHH", reference_id, timescale, 0, first_offset, 0, len(starts)) + entries
    return _full_box("sidx", 1, payload)


def _box(data: bytes, path: str) -> bytes:
    found = find_box(data, path)
    if found is None:
        raise BoxError(f"init without {path}")
    return data[found.offset : found.end]


def _plain_box(kind: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind.encode()) + payload


def _full_box(kind: str, version: int, payload: bytes) -> bytes:
    return _plain_box(kind, struct.pack(">I", version << 24) + payload)
