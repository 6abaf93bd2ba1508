"""The TS header parser on real ffmpeg output and on truncated and broken packets."""

from __future__ import annotations

import subprocess

import pytest

from packager.ts_packet import (
    PTS_MODULUS,
    TsPacket,
    TsPacketError,
    pmt_pids_from_pat,
    pts_delta,
)


@pytest.fixture(scope="module")
def ts_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("ts") / "clip.ts"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(path),
        ],
        check=True,
    )
    return path.read_bytes()


def packets(data: bytes) -> list[TsPacket]:
    return [TsPacket.parse(data[i : i + 188]) for i in range(0, len(data), 188)]


def test_parses_real_output(ts_bytes):
    parsed = packets(ts_bytes)
    pat = next(p for p in parsed if p.pid == 0)
    assert pmt_pids_from_pat(pat) == [0x1000]
    video = [p for p in parsed if p.pid == 0x100 and p.payload_unit_start]
    assert len(video) == 50
    keyframes = [p for p in video if p.random_access]
    assert len(keyframes) == 2  # gop 25 over 2 s
    # ffmpeg starts the mpegts clock at 1.4 s (its default muxdelay 0.7 s, twice); steps of 3600 ticks.
    pts = sorted(p.pes_pts for p in video)
    assert {b - a for a, b in zip(pts, pts[1:])} == {3600}
    # Continuation packets carry no PES header, so no PTS.
    assert all(p.pes_pts is None for p in parsed if p.pid == 0x100 and not p.payload_unit_start)
    for pid in {p.pid for p in parsed}:
        ccs = [p.continuity_counter for p in parsed if p.pid == pid and p.has_payload]
        assert all(b == (a + 1) % 16 for a, b in zip(ccs, ccs[1:])), hex(pid)


def test_rejects_truncated_and_broken_packets(ts_bytes):
    good = ts_bytes[:188]
    with pytest.raises(TsPacketError):
        TsPacket.parse(good[:187])
    with pytest.raises(TsPacketError):
        TsPacket.parse(b"")
    with pytest.raises(TsPacketError):
        TsPacket.parse(b"\x48" + good[1:])
    # adaptation field claiming more bytes than the packet has
    broken = bytearray(good)
    broken[3] = (broken[3] & 0x0F) | 0x30
    broken[4] = 200
    with pytest.raises(TsPacketError):
        TsPacket.parse(bytes(broken))


def test_pat_parser_rejects_truncated_and_foreign_sections(ts_bytes):
    pat_raw = next(
        ts_bytes[i : i + 188] for i in range(0, len(ts_bytes), 188) if TsPacket.parse(ts_bytes[i : i + 188]).pid == 0
    )
    pat = TsPacket.parse(pat_raw)
    header = pat_raw[:4]
    cut_short = TsPacket.parse(header + pat.payload[:10] + b"\xff" * (184 - 10))
    with pytest.raises(TsPacketError):  # the stuffing read as a program fails the CRC
        pmt_pids_from_pat(cut_short)
    flipped = bytearray(pat_raw)
    flipped[4 + 1 + 8 + 3] ^= 0x01  # one bit of the PMT PID
    with pytest.raises(TsPacketError):
        pmt_pids_from_pat(TsPacket.parse(bytes(flipped)))
    too_short = bytearray(pat_raw)
    too_short[4 + 1 + 2] = 0xFF  # section_length low byte: claims 255+ bytes
    too_short[4 + 1 + 1] |= 0x0F
    with pytest.raises(TsPacketError):
        pmt_pids_from_pat(TsPacket.parse(bytes(too_short)))
    not_pat = bytearray(pat_raw)
    not_pat[4 + 1] = 0x02  # a PMT table id
    with pytest.raises(TsPacketError):
        pmt_pids_from_pat(TsPacket.parse(bytes(not_pat)))
    continuation = bytearray(pat_raw)
    continuation[1] &= ~0x40
    with pytest.raises(TsPacketError):
        pmt_pids_from_pat(TsPacket.parse(bytes(continuation)))


def test_pes_without_pts_or_with_a_short_header():
    header = bytes([0x47, 0x41, 0x00, 0x10])  # PID 0x100, PUSI, payload only
    no_pts = b"\x00\x00\x01\xe0\x00\x00\x80\x00\x00" + b"\xff" * 175
    assert TsPacket.parse(header + no_pts).pes_pts is None
    not_pes = b"\x00\x00\x02" + b"\xff" * 181
    assert TsPacket.parse(header + not_pes).pes_pts is None


def test_pts_delta_wraps_at_33_bits():
    assert pts_delta(100, PTS_MODULUS - 80) == 180
    assert pts_delta(3600, 0) == 3600
