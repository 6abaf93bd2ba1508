"""Cut one continuous MPEG-TS byte stream into segment files at program-table boundaries.

Why cut the output rather than restart the muxer: a new muxer per segment restarts every
continuity counter, and players log corruption at each boundary. One muxer keeps counters and
timestamps continuous; this cutter only decides where its bytes are split. Each segment begins at
the PAT the muxer writes just before a random-access PES of the lead stream (FFmpeg forces
PAT/PMT in front of a video keyframe that follows a non-keyframe), so every file starts PAT, PMT,
keyframe.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from packager.ts_packet import (
    PAT_PID,
    SYNC_BYTE,
    TS_PACKET_SIZE,
    TsPacket,
    pes_start_fields,
    pmt_pids_from_pat,
    pts_delta,
)


@dataclass(frozen=True)
class SegmentStart:
    """What the rendition decided about a random-access point: cut here, and is it a discontinuity."""

    discontinuity: bool = False


@dataclass(frozen=True)
class CutSegment:
    data: bytes
    start: SegmentStart
    first_pts: int | None  # first lead-stream PES PTS (90 kHz), or of any stream if the lead had none
    last_pts: int | None  # highest PES PTS of the same stream
    next_pts: int | None  # PTS at which the following segment starts; None for the last one


# decide(pes_pts, follows_program_tables) -> SegmentStart to cut before this PES, or None
CutDecision = Callable[[int, bool], SegmentStart | None]


@lru_cache(maxsize=8)
def _marks_table(pmt_pids: frozenset[int]) -> bytes:
    """A translate table for header byte 1: 1 where the packet may not be a plain PES
    continuation (payload-unit start, or the PID's top 5 bits those of a table PID)."""
    high = {pid >> 8 for pid in pmt_pids} | {PAT_PID >> 8}
    return bytes(1 if value & 0x40 or value & 0x1F in high else 0 for value in range(256))


class _PtsSpan:
    """First and highest PTS seen, comparing across the 33-bit wrap."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.last: int | None = None

    def add(self, pts: int) -> None:
        if self.first is None or self.last is None:
            self.first = self.last = pts
        elif 0 < pts_delta(pts, self.last) < (1 << 32):
            self.last = pts


class TsCutter:
    """A write-only file object for the muxer; hands complete segments to `on_segment`.

    `decide` is asked at every PES start on `lead_pid` that carries the random-access flag.
    When it answers with a SegmentStart and the current segment already holds lead-stream data,
    the segment is closed at the first PAT written after the last lead packet. If the muxer
    wrote no PAT there (e.g. back-to-back keyframes), the new segment opens with verbatim copies
    of the last PAT and PMT packets: a repeated packet with an unchanged counter is a legal
    duplicate, so the counters stay valid. Packets before the very first PAT (FFmpeg's opening
    SDT) are dropped so that the first segment opens with the PAT like the others.
    """

    def __init__(self, lead_pid: int, decide: CutDecision, on_segment: Callable[[CutSegment], None]):
        self._lead_pid = lead_pid
        self._decide = decide
        self._on_segment = on_segment
        self._pending = bytearray()
        self._pmt_pids: set[int] = set()
        self._last_tables: dict[int, bytes] = {}
        self._segment = bytearray()
        self._start = SegmentStart()
        self._tables_offset: int | None = None
        self._lead_span = _PtsSpan()
        self._any_span = _PtsSpan()

    def write(self, data: bytes) -> int:
        self._pending += data
        whole = len(self._pending) - len(self._pending) % TS_PACKET_SIZE
        if whole:
            chunk = bytes(self._pending[:whole])
            del self._pending[:whole]
            self._take_chunk(chunk)
        return len(data)

    def _take_chunk(self, chunk: bytes) -> None:
        """Whole packets: runs of PES continuation packets are copied in one slice each.

        Almost every packet continues a PES, and a Python call per packet was most of the
        cutter's cost. The second header byte of every packet (a strided slice) mapped through
        `_marks` flags the packets that may matter: payload-unit starts and PIDs whose top bits
        match a table PID. Only those go through `_take`; the runs between them are appended
        as they are. A chunk with a bad sync byte anywhere goes packet by packet (and raises).
        """
        count = len(chunk) // TS_PACKET_SIZE
        if chunk[0::TS_PACKET_SIZE].count(SYNC_BYTE) != count:
            for offset in range(0, len(chunk), TS_PACKET_SIZE):
                self._take(chunk[offset:offset + TS_PACKET_SIZE])
            return
        view = memoryview(chunk)
        table_pids = self._pmt_pids
        marks = chunk[1::TS_PACKET_SIZE].translate(self._marks())
        run_start = 0
        index = marks.find(1)
        while index >= 0:
            offset = index * TS_PACKET_SIZE
            self._take_run(view, run_start, offset)
            self._take(chunk[offset:offset + TS_PACKET_SIZE])
            run_start = offset + TS_PACKET_SIZE
            if self._pmt_pids is not table_pids:  # a new PAT: other PIDs matter from here on
                table_pids = self._pmt_pids
                marks = chunk[1::TS_PACKET_SIZE].translate(self._marks())
            index = marks.find(1, index + 1)
        self._take_run(view, run_start, len(chunk))

    def _marks(self) -> bytes:
        return _marks_table(frozenset(self._pmt_pids))

    def _take_run(self, view: memoryview, start: int, end: int) -> None:
        """Continuation packets (no payload-unit start, no table PID): what `_take`'s fast
        path does for each, for all at once."""
        if start >= end or not self._last_tables:
            return  # nothing, or before the first PAT (dropped, as in `_take`)
        if self._tables_offset is not None:
            for offset in range(start, end, TS_PACKET_SIZE):
                if ((view[offset + 1] & 0x1F) << 8) | view[offset + 2] == self._lead_pid:
                    self._tables_offset = None
                    break
        self._segment += view[start:end]

    def finish(self) -> CutSegment | None:
        """The last segment (everything since the last cut), or None if it holds no PES."""
        if self._any_span.first is None:
            return None
        return self._cut_off(len(self._segment), next_pts=None)

    def _take(self, raw: bytes) -> None:
        pid = ((raw[1] & 0x1F) << 8) | raw[2]
        if raw[0] == SYNC_BYTE and not raw[1] & 0x40 and pid != PAT_PID and pid not in self._pmt_pids:
            # Most packets continue a PES: only the PID matters (fast path, no full parse).
            if self._last_tables:
                self._segment += raw
                if pid == self._lead_pid:
                    self._tables_offset = None
            return
        if raw[0] == SYNC_BYTE and pid != PAT_PID and pid not in self._pmt_pids:
            # A PES start (one per frame): its random-access flag and PTS, no TsPacket.
            if self._last_tables:
                random_access, pts = pes_start_fields(raw)
                self._take_pes_start(pid, random_access, pts, raw)
            return  # before the first PAT: dropped, like FFmpeg's opening SDT
        packet = TsPacket.parse(raw)
        if not self._last_tables and packet.pid != PAT_PID:
            return  # FFmpeg opens with an SDT; the first segment should open with the PAT too
        self._take_table(packet, raw)

    def _take_pes_start(self, pid: int, random_access: bool, pts: int | None, raw: bytes) -> None:
        if pts is not None:
            self._any_span.add(pts)
        if pid == self._lead_pid:
            if random_access and pts is not None:
                self._consider_cut(pts)
            if pts is not None:
                self._lead_span.add(pts)
            self._tables_offset = None
        self._segment += raw

    def _take_table(self, packet: TsPacket, raw: bytes) -> None:
        if packet.pid == PAT_PID:
            if packet.payload_unit_start:
                self._pmt_pids = set(pmt_pids_from_pat(packet))
            if self._tables_offset is None:
                self._tables_offset = len(self._segment)
        self._last_tables[packet.pid] = raw
        self._segment += raw

    def _consider_cut(self, pts: int) -> None:
        start = self._decide(pts, self._tables_offset is not None)
        if start is None:
            return
        if self._lead_span.first is None:  # nothing of the lead stream yet: this opens the segment
            self._start = start
            return
        if self._tables_offset is not None:
            finished = self._cut_off(self._tables_offset, next_pts=pts)
        else:
            finished = self._cut_off(len(self._segment), next_pts=pts)
            self._segment += b"".join(self._last_tables.values())
        self._start = start
        self._on_segment(finished)

    def _cut_off(self, offset: int, *, next_pts: int | None) -> CutSegment:
        span = self._lead_span if self._lead_span.first is not None else self._any_span
        finished = CutSegment(
            data=bytes(self._segment[:offset]),
            start=self._start,
            first_pts=span.first,
            last_pts=span.last,
            next_pts=next_pts,
        )
        del self._segment[:offset]
        self._tables_offset = 0 if self._tables_offset is not None else None
        self._lead_span = _PtsSpan()
        self._any_span = _PtsSpan()
        return finished
