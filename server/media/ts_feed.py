"""Turns an SRT publisher's MPEG-TS chunks into the bytes a worker reads for that input.

While running it passes chunks through untouched (no per-packet work). After `restart()` —
a new worker, or a switch to this publisher — it scans packets for the PAT, the PMT and
then the first video PES with the random-access flag, and resumes there with the PAT and
PMT in front: the worker's demuxer then sees the tables and the codec parameters (SPS/PPS
ride with the keyframe) first. An encoder that never flags random access is resumed at a
PAT after FALLBACK_PACKETS; the worker skips to the first keyframe itself.
"""

from __future__ import annotations

from ingest.mpegts import PACKET_SIZE, PAT_PID, SYNC, packet_header, pmt_pid, video_pid

FALLBACK_PACKETS = 20_000  # ≈ 3.8 MB: a few GOPs at broadcast bitrates


class TsFeed:
    format = "mpegts"

    def __init__(self) -> None:
        self.waiting = True
        self.carry = b""
        self.tables: dict[int, bytes] = {}
        self.pmt_pid: int | None = None
        self.video_pid: int | None = None
        self.scanned = 0

    def restart(self) -> None:
        """Start scanning for the next keyframe; the prefix comes with it from `bytes_for`."""
        self.waiting = True
        self.carry = b""
        self.tables = {}
        self.scanned = 0

    def observe(self, chunk: bytes) -> None:
        """A publisher on standby: nothing to keep (the tables are found again on restart)."""

    def bytes_for(self, chunk: bytes) -> bytes:
        """`chunk` itself, or b"" while waiting for a keyframe, then PAT + PMT + the rest."""
        if not self.waiting:
            return chunk
        data = self.carry + chunk
        position = 0
        while position + PACKET_SIZE <= len(data):
            if data[position] != SYNC:
                position = self._resync(data, position + 1)
                continue
            start = self._start_at(data[position : position + PACKET_SIZE])
            if start is not None:
                self.waiting = False
                self.carry = b""
                return start + data[position:]
            position += PACKET_SIZE
        self.carry = data[position:] if data[position : position + 1] == bytes([SYNC]) else b""
        return b""

    def _start_at(self, packet: bytes) -> bytes | None:
        """The prefix to send when this packet is where the new input starts, else None."""
        header = packet_header(packet)
        self.scanned += 1
        if header.pid == PAT_PID and header.unit_start:
            self.tables[PAT_PID] = packet
            self.pmt_pid = pmt_pid(header.payload)
            if self.scanned > FALLBACK_PACKETS:
                return b""  # resume at this PAT
            return None
        if header.pid == self.pmt_pid and header.unit_start and self.pmt_pid is not None:
            self.tables[header.pid] = packet
            self.video_pid = video_pid(header.payload)
            return None
        if PAT_PID not in self.tables or self.pmt_pid not in self.tables or not header.unit_start:
            return None
        if header.pid == self.video_pid and header.random_access:
            return self.tables[PAT_PID] + self.tables[self.pmt_pid]
        if self.video_pid is None and header.pid != self.pmt_pid:
            return self.tables[PAT_PID] + self.tables[self.pmt_pid]  # audio only: any PES start
        return None

    @staticmethod
    def _resync(data: bytes, position: int) -> int:
        found = data.find(bytes([SYNC]), position)
        return len(data) if found < 0 else found
