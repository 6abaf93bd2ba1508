"""TsMuxer's bytes read back with the independent header reader (packager.ts_packet)."""

from __future__ import annotations

import os

import pytest

from packager.ts_mux import PMT_PID, ElementaryStream, TsMuxer, encode_timestamp
from packager.ts_packet import PTS_MODULUS, TsPacket, crc32_mpeg2, pmt_pids_from_pat

VIDEO = ElementaryStream(0x100, 0x1B, 0xE0)
AUDIO = ElementaryStream(0x101, 0x0F, 0xC0)


def packets(data: bytes | bytearray) -> list[TsPacket]:
    assert len(data) % 188 == 0
    return [TsPacket.parse(bytes(data[i : i + 188])) for i in range(0, len(data), 188)]


def decode_timestamp(field: bytes) -> int:
    return ((field[0] >> 1) & 0x07) << 30 | field[1] << 22 | (field[2] >> 1) << 15 | field[3] << 7 | field[4] >> 1


def pcr_of(raw: bytes) -> int | None:
    """PCR base (90 kHz) from a packet's adaptation field, None without one."""
    if not raw[3] & 0x20 or raw[4] == 0 or not raw[5] & 0x10:
        return None
    p = raw[6:12]
    return p[0] << 25 | p[1] << 17 | p[2] << 9 | p[3] << 1 | p[4] >> 7


def pes_of(parsed: list[TsPacket], pid: int) -> list[bytes]:
    """Reassembled PES packets of one PID."""
    out: list[bytearray] = []
    for packet in parsed:
        if packet.pid != pid:
            continue
        if packet.payload_unit_start:
            out.append(bytearray())
        out[-1] += packet.payload
    return [bytes(p) for p in out]


def test_pat_and_pmt_are_single_packets_with_valid_crcs():
    out = bytearray()
    TsMuxer([VIDEO, AUDIO], VIDEO.pid).write_tables(out)
    pat, pmt = packets(out)
    assert (pat.pid, pmt.pid) == (0, PMT_PID)
    assert pmt_pids_from_pat(pat) == [PMT_PID]  # checks the PAT's CRC too
    section = pmt.payload[1:]
    length = ((section[1] & 0x0F) << 8) | section[2]
    assert section[0] == 0x02 and crc32_mpeg2(section[: 3 + length]) == 0
    assert ((section[8] & 0x1F) << 8) | section[9] == VIDEO.pid  # PCR_PID
    entries = section[12 : 3 + length - 4]
    assert [(entries[i], ((entries[i + 1] & 0x1F) << 8) | entries[i + 2]) for i in range(0, len(entries), 5)] == [
        (0x1B, 0x100),
        (0x0F, 0x101),
    ]


@pytest.mark.parametrize(
    "size", [0, 1, 150, 155, 156, 157, 160, 163, 164, 165, 166, 182, 183, 184, 340, 341, 342, 500, 1000, 30_000]
)
def test_any_payload_size_packs_into_whole_packets_that_reassemble(size):
    muxer = TsMuxer([VIDEO, AUDIO], VIDEO.pid)
    payload = os.urandom(size)
    for stream in (VIDEO, AUDIO):
        out = bytearray()
        muxer.write_pes(out, stream, payload, 1000, 1000, random_access=True)
        parsed = packets(out)
        assert [p.payload_unit_start for p in parsed] == [True] + [False] * (len(parsed) - 1)
        assert all(p.pid == stream.pid for p in parsed)
        (pes,) = pes_of(parsed, stream.pid)
        header_size = 9 + pes[8]
        assert pes[:4] == b"\x00\x00\x01" + bytes((stream.stream_id,))
        assert pes[header_size:] == payload
        adaptation = 8 if stream.pid == VIDEO.pid else 2  # flags (+ PCR on the PCR PID)
        assert len(parsed) == max(1, -(-(header_size + size + adaptation) // 184))  # none wasted


def test_continuity_counters_count_per_pid_and_wrap():
    muxer = TsMuxer([VIDEO, AUDIO], VIDEO.pid)
    out = bytearray()
    for n in range(40):
        muxer.write_tables(out)
        muxer.write_pes(out, VIDEO, os.urandom(n * 97), n * 3000, n * 3000, random_access=False)
        muxer.write_pes(out, AUDIO, os.urandom(300), n * 1920, n * 1920, random_access=False)
    parsed = packets(out)
    for pid in (0, PMT_PID, VIDEO.pid, AUDIO.pid):
        counters = [p.continuity_counter for p in parsed if p.pid == pid]
        assert counters == [i % 16 for i in range(len(counters))], hex(pid)


def test_pcr_on_every_pes_start_of_the_pcr_pid_only_and_rising():
    muxer = TsMuxer([VIDEO, AUDIO], VIDEO.pid)
    out = bytearray()
    for n in range(30):
        dts = 126_000 + n * 3600
        muxer.write_pes(out, VIDEO, os.urandom(2000), dts + 7200, dts, random_access=n % 10 == 0)
        muxer.write_pes(out, AUDIO, os.urandom(200), dts, dts, random_access=False)
    raw = [bytes(out[i : i + 188]) for i in range(0, len(out), 188)]
    parsed = packets(out)
    pcrs = []
    for packet, data in zip(parsed, raw):
        pcr = pcr_of(data)
        if packet.pid == VIDEO.pid and packet.payload_unit_start:
            assert pcr is not None and pcr <= decode_timestamp(packet.payload[14:19])  # PCR <= DTS
            pcrs.append(pcr)
        else:
            assert pcr is None
    assert len(pcrs) == 30 and all(b > a for a, b in zip(pcrs, pcrs[1:]))
    starts = [p for p in parsed if p.pid == VIDEO.pid and p.payload_unit_start]
    assert [p.random_access for p in starts] == [n % 10 == 0 for n in range(30)]
    assert not any(p.random_access for p in parsed if p.pid == AUDIO.pid)


def test_pes_timestamps_wrap_and_dts_only_when_it_differs():
    muxer = TsMuxer([VIDEO, AUDIO], VIDEO.pid)
    out = bytearray()
    muxer.write_pes(out, VIDEO, b"x" * 10, PTS_MODULUS + 5, PTS_MODULUS + 2, random_access=True)
    muxer.write_pes(out, VIDEO, b"y" * 10, 700, 700, random_access=False)
    muxer.write_pes(out, AUDIO, b"z" * 10, 123_456, 123_456, random_access=False)
    first, second = pes_of(packets(out), VIDEO.pid)
    (audio,) = pes_of(packets(out), AUDIO.pid)
    assert first[7] == 0xC0 and first[8] == 10
    assert (decode_timestamp(first[9:14]), decode_timestamp(first[14:19])) == (5, 2)
    assert first[9] >> 4 == 0x3 and first[14] >> 4 == 0x1
    assert second[7] == 0x80 and second[8] == 5 and decode_timestamp(second[9:14]) == 700
    assert int.from_bytes(first[4:6], "big") == 0  # video: unbounded
    assert int.from_bytes(audio[4:6], "big") == len(audio) - 6  # audio: its real length
    assert decode_timestamp(audio[9:14]) == 123_456


def test_timestamp_field_keeps_its_marker_bits():
    for value in (0, 1, PTS_MODULUS - 1, 0x1_2345_6789 % PTS_MODULUS):
        field = encode_timestamp(0x2, value)
        assert field[0] & 0x01 and field[2] & 0x01 and field[4] & 0x01
        assert decode_timestamp(field) == value
