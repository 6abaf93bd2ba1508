"""MPEG-TS packet headers and the MPEG-2 CRC: the constants `packager.ts_mux` writes by, and a
reader for what it wrote.

Why a reader at all: the muxer's output is checked against it (header, random-access flag, PES
timestamp, PAT with its CRC), independently of the code that wrote the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

TS_PACKET_SIZE = 188
SYNC_BYTE = 0x47
PAT_PID = 0x0000
NULL_PID = 0x1FFF
PTS_CLOCK_HZ = 90_000
PTS_MODULUS = 1 << 33


class TsPacketError(ValueError):
    """The bytes are not a well-formed 188-byte transport stream packet."""


@dataclass(frozen=True)
class TsPacket:
    pid: int
    payload_unit_start: bool
    continuity_counter: int
    has_payload: bool
    random_access: bool
    payload: bytes
    pes_pts: int | None  # PTS (90 kHz) when this packet starts a PES that carries one

    @classmethod
    def parse(cls, data: bytes) -> TsPacket:
        if len(data) != TS_PACKET_SIZE:
            raise TsPacketError(f"packet is {len(data)} bytes, not {TS_PACKET_SIZE}")
        if data[0] != SYNC_BYTE:
            raise TsPacketError(f"sync byte is {data[0]:#04x}, not {SYNC_BYTE:#04x}")
        pid = ((data[1] & 0x1F) << 8) | data[2]
        payload_unit_start = bool(data[1] & 0x40)
        payload_offset, random_access, has_payload = _adaptation(data)
        payload = data[payload_offset:] if has_payload else b""
        pes_pts = _pes_pts(payload) if payload_unit_start and pid != PAT_PID else None
        return cls(
            pid=pid,
            payload_unit_start=payload_unit_start,
            continuity_counter=data[3] & 0x0F,
            has_payload=has_payload,
            random_access=random_access,
            payload=payload,
            pes_pts=pes_pts,
        )


def _adaptation(data: bytes) -> tuple[int, bool, bool]:
    """(payload offset, random_access_indicator, has payload) from a packet's header and
    adaptation field."""
    adaptation_control = (data[3] >> 4) & 0x3
    offset = 4
    random_access = False
    if adaptation_control & 0x2:
        adaptation_length = data[4]
        offset = 5 + adaptation_length
        if offset > TS_PACKET_SIZE:
            raise TsPacketError(f"adaptation field of {adaptation_length} bytes overflows")
        random_access = adaptation_length > 0 and bool(data[5] & 0x40)
    return offset, random_access, bool(adaptation_control & 0x1)


def pmt_pids_from_pat(pat: TsPacket) -> list[int]:
    """Program map PIDs listed in a single-packet PAT section."""
    payload = pat.payload
    if not pat.payload_unit_start or not payload:
        raise TsPacketError("PAT packet does not start a section")
    section = payload[1 + payload[0] :]
    if len(section) < 8 or section[0] != 0x00:
        raise TsPacketError("not a PAT section")
    section_length = ((section[1] & 0x0F) << 8) | section[2]
    end = 3 + section_length - 4  # the CRC32 closes the section
    if end + 4 > len(section):
        raise TsPacketError("PAT section is truncated")
    if crc32_mpeg2(section[: end + 4]) != 0:
        raise TsPacketError("PAT section fails its CRC32")
    pids = []
    for offset in range(8, end - 3, 4):
        program_number = (section[offset] << 8) | section[offset + 1]
        pid = ((section[offset + 2] & 0x1F) << 8) | section[offset + 3]
        if program_number != 0:  # 0 names the network PID, not a program
            pids.append(pid)
    return pids


def pts_delta(later: int, earlier: int) -> int:
    """Ticks from `earlier` to `later`, across the 33-bit wrap (every ~26.5 hours)."""
    return (later - earlier) % PTS_MODULUS


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (poly 0x04C11DB7, no reflection); 0 over a section including its CRC."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        crc &= 0xFFFFFFFF
    return crc


def _pes_pts(payload: bytes) -> int | None:
    if len(payload) < 14 or payload[:3] != b"\x00\x00\x01":
        return None
    if not payload[7] & 0x80:  # PTS_DTS_flags: no PTS
        return None
    p = payload[9:14]
    return ((p[0] >> 1) & 0x07) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1
