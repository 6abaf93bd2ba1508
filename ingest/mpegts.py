"""MPEG-TS as an ingest payload (SRT): just enough of PAT/PMT and packet headers to find
where a receiver can start — the first video keyframe (random-access PES start)."""

from __future__ import annotations

from dataclasses import dataclass

PACKET_SIZE = 188
SYNC = 0x47
PAT_PID = 0
VIDEO_STREAM_TYPES = {0x01, 0x02, 0x10, 0x1B, 0x24}  # MPEG-1/2, MPEG-4 part 2, H.264, HEVC


@dataclass(frozen=True, slots=True)
class PacketHeader:
    pid: int
    unit_start: bool
    random_access: bool
    payload: bytes


def packet_header(packet: bytes) -> PacketHeader:
    """Header fields of one 188-byte packet that starts with the sync byte."""
    pid = ((packet[1] & 0x1F) << 8) | packet[2]
    unit_start = bool(packet[1] & 0x40)
    control = (packet[3] >> 4) & 0x3
    offset = 4
    random_access = False
    if control & 0x2:
        length = packet[4]
        random_access = length > 0 and bool(packet[5] & 0x40)
        offset = 5 + length
    payload = packet[offset:] if control & 0x1 and offset < PACKET_SIZE else b""
    return PacketHeader(pid, unit_start, random_access, payload)


def _section(payload: bytes) -> bytes:
    """The PSI section a unit-start payload carries (after its pointer field)."""
    if not payload:
        return b""
    start = 1 + payload[0]
    section = payload[start:]
    if len(section) < 3:
        return b""
    length = ((section[1] & 0x0F) << 8) | section[2]
    return section[: 3 + length]


def pmt_pid(payload: bytes) -> int | None:
    """The PID of the first program's PMT, from a PAT payload."""
    section = _section(payload)
    entries = section[8:-4]
    for i in range(0, len(entries) - 3, 4):
        program = (entries[i] << 8) | entries[i + 1]
        if program != 0:
            return ((entries[i + 2] & 0x1F) << 8) | entries[i + 3]
    return None


def video_pid(payload: bytes) -> int | None:
    """The PID of the first video elementary stream, from a PMT payload (None: no video)."""
    section = _section(payload)
    if len(section) < 12:
        return None
    info_length = ((section[10] & 0x0F) << 8) | section[11]
    position, end = 12 + info_length, len(section) - 4
    while position + 5 <= end:
        stream_type = section[position]
        pid = ((section[position + 1] & 0x1F) << 8) | section[position + 2]
        if stream_type in VIDEO_STREAM_TYPES:
            return pid
        position += 5 + (((section[position + 3] & 0x0F) << 8) | section[position + 4])
    return None
