"""A minimal MPEG-TS muxer: one program, PAT/PMT on demand, one PES per frame.

Why our own: the packager knows where every segment starts when it hands over a frame, so it
asks for PAT + PMT right there and writes the bytes into that segment; a general muxer would
need its output re-parsed to find the cut. Continuity counters live here, per PID, so they run
on from one segment to the next.

Packetization: the first packet of a PES carries the PES header (and the adaptation field with
PCR / random access), the middle ones are whole 184-byte payloads (for a video frame, built in one
numpy pass from a table of the 16 continuation headers), and the last one is padded by
adaptation-field stuffing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from packager.ts_packet import PAT_PID, PTS_MODULUS, SYNC_BYTE, TS_PACKET_SIZE, crc32_mpeg2

PAYLOAD_SIZE = TS_PACKET_SIZE - 4
PMT_PID = 0x1000
PROGRAM_NUMBER = 1
TRANSPORT_STREAM_ID = 1
PAYLOAD_ONLY = 0x10
ADAPTATION_AND_PAYLOAD = 0x30
RANDOM_ACCESS_FLAG = 0x40
PCR_FLAG = 0x10
PES_DATA_ALIGNMENT = 0x84  # '10' marker bits + data_alignment_indicator: each PES opens a frame
MAX_PES_PACKET_LENGTH = 0xFFFF
PCR_EXTENSION_BITS = 0x7E  # the 6 reserved bits between PCR base and extension
NUMPY_FROM_PACKETS = 8  # fewer middle packets than this: a plain loop is cheaper (measured)
PCR_LEAD = 63_000  # PCR runs 0.7 s (90 kHz) behind the DTS: FFmpeg's default max_delay


class TsMuxError(ValueError):
    """A frame the muxer cannot write (e.g. a decode timestamp that does not rise)."""


@dataclass(frozen=True)
class ElementaryStream:
    pid: int
    stream_type: int  # PMT stream_type: 0x1B H.264, 0x24 HEVC, 0x0F AAC (ADTS), 0x03 MPEG audio
    stream_id: int  # PES stream_id: 0xE0.. video, 0xC0.. audio

    @property
    def is_video(self) -> bool:
        return self.stream_id & 0xF0 == 0xE0


class TsMuxer:
    """Writes program tables and PES packets into a caller's bytearray (see the module docstring)."""

    def __init__(self, streams: list[ElementaryStream], pcr_pid: int) -> None:
        self._pcr_pid = pcr_pid
        self._counters = {PAT_PID: 0, PMT_PID: 0, **{s.pid: 0 for s in streams}}
        self._pat_body = _psi_payload(pat_section())
        self._pmt_body = _psi_payload(pmt_section(streams, pcr_pid))
        self._cycles = {s.pid: _HeaderCycle(s.pid) for s in streams}

    def write_tables(self, out: bytearray) -> None:
        """PAT then PMT, as every segment opens (each segment must be decodable alone)."""
        out += self._header(PAT_PID, True, PAYLOAD_ONLY) + self._pat_body
        out += self._header(PMT_PID, True, PAYLOAD_ONLY) + self._pmt_body

    def write_pes(
        self, out: bytearray, stream: ElementaryStream, payload: bytes, pts: int, dts: int, *, random_access: bool
    ) -> None:
        """One frame as one PES. `pts`/`dts` are 90 kHz (wrapped here); PCR on the PCR PID.

        The PCR is the DTS less `PCR_LEAD`: monotonic as long as the DTS rises, and early
        enough that the decoder has the frame before it is due.
        """
        header = pes_header(stream, len(payload), pts, dts)
        adaptation = RANDOM_ACCESS_FLAG if random_access else 0
        pcr = None
        if stream.pid == self._pcr_pid:
            adaptation |= PCR_FLAG
            pcr = (dts - PCR_LEAD) % PTS_MODULUS
        fields = bytes((adaptation,)) + encode_pcr(pcr) if adaptation else b""
        taken = self._write_first(out, stream.pid, header, payload, fields)
        self._write_rest(out, stream.pid, payload, taken)

    def _write_first(self, out: bytearray, pid: int, header: bytes, payload: bytes, fields: bytes) -> int:
        """The packet that starts the PES; returns how many payload bytes it took."""
        room = PAYLOAD_SIZE - len(header) - (len(fields) + 1 if fields else 0)
        chunk = payload[:room]
        stuffing = room - len(chunk)
        if fields:
            adaptation = _adaptation_field(fields, stuffing)
        elif stuffing:
            adaptation = _stuffing_field(stuffing)
        else:
            out += self._header(pid, True, PAYLOAD_ONLY) + header + chunk
            return len(chunk)
        out += self._header(pid, True, ADAPTATION_AND_PAYLOAD) + adaptation + header + chunk
        return len(chunk)

    def _write_rest(self, out: bytearray, pid: int, payload: bytes, start: int) -> None:
        whole, tail = divmod(len(payload) - start, PAYLOAD_SIZE)
        if whole >= NUMPY_FROM_PACKETS:
            counter = self._counters[pid]
            packets = np.empty((whole, TS_PACKET_SIZE), np.uint8)
            packets[:, :4] = self._cycles[pid].headers(counter, whole)
            packets[:, 4:] = np.frombuffer(payload, np.uint8, whole * PAYLOAD_SIZE, start).reshape(whole, PAYLOAD_SIZE)
            self._counters[pid] = (counter + whole) & 0x0F
            out += packets.data  # a memoryview: bytearray + ndarray would broadcast
        else:  # a few packets (audio): numpy's fixed cost would outweigh the copying
            for offset in range(start, start + whole * PAYLOAD_SIZE, PAYLOAD_SIZE):
                out += self._header(pid, False, PAYLOAD_ONLY)
                out += payload[offset : offset + PAYLOAD_SIZE]
        if tail:
            chunk = payload[len(payload) - tail :]
            out += self._header(pid, False, ADAPTATION_AND_PAYLOAD) + _stuffing_field(PAYLOAD_SIZE - tail) + chunk

    def _header(self, pid: int, unit_start: bool, control: int) -> bytes:
        counter = self._counters[pid]
        self._counters[pid] = (counter + 1) & 0x0F
        return bytes((SYNC_BYTE, (0x40 if unit_start else 0) | pid >> 8, pid & 0xFF, control | counter))


class _HeaderCycle:
    """The 4-byte continuation headers of one PID (no unit start, payload only) for counters
    0-15, repeated so that any run of packets is one slice of the table."""

    def __init__(self, pid: int) -> None:
        base = np.array([SYNC_BYTE, pid >> 8, pid & 0xFF, PAYLOAD_ONLY], np.uint8)
        self._one = np.tile(base, (16, 1))
        self._one[:, 3] |= np.arange(16, dtype=np.uint8)
        self._table = np.tile(self._one, (64, 1))

    def headers(self, counter: int, count: int) -> np.ndarray:
        if counter + count > len(self._table):
            self._table = np.tile(self._one, ((counter + count) // 16 + 1, 1))
        return self._table[counter : counter + count]


def pes_header(stream: ElementaryStream, payload_size: int, pts: int, dts: int) -> bytes:
    """PES header with PTS, and DTS when it differs; PES_packet_length 0 (unbounded) for video."""
    pts %= PTS_MODULUS
    dts %= PTS_MODULUS
    if pts == dts:
        flags, fields = 0x80, encode_timestamp(0x2, pts)
    else:
        flags, fields = 0xC0, encode_timestamp(0x3, pts) + encode_timestamp(0x1, dts)
    length = 3 + len(fields) + payload_size
    if stream.is_video or length > MAX_PES_PACKET_LENGTH:
        length = 0
    return (
        b"\x00\x00\x01"
        + bytes((stream.stream_id, length >> 8, length & 0xFF, PES_DATA_ALIGNMENT, flags, len(fields)))
        + fields
    )


def encode_timestamp(prefix: int, value: int) -> bytes:
    """A 33-bit PTS/DTS in its 5-byte PES form (4-bit prefix, marker bits)."""
    return bytes(
        (
            (prefix << 4) | ((value >> 29) & 0x0E) | 1,
            (value >> 22) & 0xFF,
            ((value >> 14) & 0xFE) | 1,
            (value >> 7) & 0xFF,
            ((value << 1) & 0xFE) | 1,
        )
    )


def encode_pcr(base: int | None) -> bytes:
    """A PCR (90 kHz base, extension 0) in its 6-byte adaptation-field form; b"" for None."""
    if base is None:
        return b""
    return bytes(
        (
            (base >> 25) & 0xFF,
            (base >> 17) & 0xFF,
            (base >> 9) & 0xFF,
            (base >> 1) & 0xFF,
            ((base & 1) << 7) | PCR_EXTENSION_BITS,
            0,
        )
    )


def pat_section() -> bytes:
    """A PAT naming one program, whose PMT is on PMT_PID."""
    return _section(
        0x00, TRANSPORT_STREAM_ID, PROGRAM_NUMBER.to_bytes(2, "big") + (0xE000 | PMT_PID).to_bytes(2, "big")
    )


def pmt_section(streams: list[ElementaryStream], pcr_pid: int) -> bytes:
    """The program's PMT: its PCR PID and one entry per elementary stream, no descriptors."""
    body = (0xE000 | pcr_pid).to_bytes(2, "big") + b"\xf0\x00"
    for stream in streams:
        body += bytes((stream.stream_type,)) + (0xE000 | stream.pid).to_bytes(2, "big") + b"\xf0\x00"
    return _section(0x02, PROGRAM_NUMBER, body)


def _section(table_id: int, table_id_extension: int, body: bytes) -> bytes:
    """A long-form PSI section (version 0, current, section 0 of 0) closed by its CRC32."""
    length = 5 + len(body) + 4
    section = (
        bytes((table_id, 0xB0 | length >> 8, length & 0xFF))
        + table_id_extension.to_bytes(2, "big")
        + b"\xc1\x00\x00"
        + body
    )
    return section + crc32_mpeg2(section).to_bytes(4, "big")


def _psi_payload(section: bytes) -> bytes:
    """A section as the 184-byte payload of one packet: pointer field 0, 0xFF filling."""
    payload = b"\x00" + section
    if len(payload) > PAYLOAD_SIZE:
        raise TsMuxError("program table does not fit one packet")
    return payload + b"\xff" * (PAYLOAD_SIZE - len(payload))


def _adaptation_field(fields: bytes, stuffing: int) -> bytes:
    """Adaptation field of flags (+ PCR) followed by `stuffing` 0xFF bytes."""
    return bytes((len(fields) + stuffing,)) + fields + b"\xff" * stuffing


def _stuffing_field(size: int) -> bytes:
    """An adaptation field of exactly `size` bytes (length byte included) that only stuffs."""
    if size == 1:
        return b"\x00"
    return bytes((size - 1,)) + b"\x00" + b"\xff" * (size - 2)
