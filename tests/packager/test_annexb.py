"""AnnexBFramer on real avcC/hvcC extradata and packets from ffmpeg, and on hand-made access units."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import pytest

from packager.annexb import H264, HEVC, AnnexBFramer, leading_nal_types, parse_avcc, parse_hvcc

AUD_H264 = b"\x00\x00\x00\x01\x09\xf0"
AUD_HEVC = b"\x00\x00\x00\x01\x46\x01\x50"


def encode(path: Path, codec: str) -> Path:
    extra = ["-x265-params", "log-level=error"] if codec == "libx265" else []
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
            "-t",
            "2",
            "-c:v",
            codec,
            "-preset",
            "ultrafast",
            "-g",
            "25",
            *extra,
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("annexb")


def packets_and_extradata(path: Path) -> tuple[list[tuple[bytes, bool]], bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        extradata = bytes(stream.codec_context.extradata)
        packets = [(bytes(p), p.is_keyframe) for p in container.demux(stream) if p.size]
    return packets, extradata


def nal_types(annex_b: bytes, syntax) -> list[int]:
    return [syntax.nal_type(unit[0]) for unit in annex_b.split(b"\x00\x00\x01")[1:] if unit]


def decode_count(codec: str, units: list[bytes]) -> int:
    """Frames decoded from the access units with no extradata: they must carry everything."""
    decoder = av.CodecContext.create(codec, "r")
    frames = sum(len(decoder.decode(av.Packet(unit))) for unit in units)
    return frames + len(decoder.decode(None))


@pytest.mark.parametrize(
    ("source", "codec", "syntax", "aud"),
    [
        ("h264.flv", "libx264", H264, AUD_H264),
        ("hevc.mp4", "libx265", HEVC, AUD_HEVC),
    ],
)
def test_length_prefixed_input_becomes_self_contained_annex_b(media, source, codec, syntax, aud):
    packets, extradata = packets_and_extradata(encode(media / source, codec))
    assert extradata[0] == 1  # avcC / hvcC: the packets are length-prefixed
    framer = AnnexBFramer("h264" if syntax is H264 else "hevc", extradata)
    units = [framer.access_unit(data, keyframe) for data, keyframe in packets]
    for unit, (_, keyframe) in zip(units, packets):
        assert unit.startswith(aud)
        types = nal_types(unit, syntax)
        assert types.count(syntax.aud_type) == 1
        has_sets = syntax.parameter_set_types <= set(types)
        assert has_sets == keyframe, types
    assert decode_count("h264" if syntax is H264 else "hevc", units) == len(packets) == 50


def test_parameter_set_records_list_their_units(media):
    _, avcc = packets_and_extradata(encode(media / "sets.flv", "libx264"))
    length_size, units = parse_avcc(avcc)
    assert length_size == 4 and [H264.nal_type(u[0]) for u in units] == [7, 8]
    _, hvcc = packets_and_extradata(encode(media / "sets.mp4", "libx265"))
    length_size, units = parse_hvcc(hvcc)
    assert length_size == 4 and [HEVC.nal_type(u[0]) for u in units][:3] == [32, 33, 34]


def test_annex_b_input_gets_an_aud_and_keeps_in_band_parameter_sets(media):
    # Raw H.264 as an encoder without global header writes it: SPS/PPS in band, no AUD.
    packets, extradata = packets_and_extradata(encode(media / "raw.h264", "libx264"))
    assert nal_types(packets[0][0], H264)[0] != 9
    framer = AnnexBFramer("h264", extradata)
    for data, keyframe in packets:
        unit = framer.access_unit(data, keyframe)
        types = nal_types(unit, H264)
        assert types[0] == 9 and types.count(9) == 1
        assert types.count(7) == (1 if keyframe else 0)
        assert unit.endswith(data[-100:])


def test_annex_b_keyframe_without_sets_gets_those_of_annex_b_extradata():
    sps, pps = b"\x00\x00\x00\x01\x67\x42\x00\x1e", b"\x00\x00\x00\x01\x68\xce\x38\x80"
    idr = b"\x00\x00\x00\x01\x65\x88\x84\x00"
    framer = AnnexBFramer("h264", sps + pps)
    assert framer.access_unit(idr, True) == AUD_H264 + sps + pps + idr
    assert framer.access_unit(AUD_H264 + idr, True) == AUD_H264 + sps + pps + idr
    assert framer.access_unit(AUD_H264 + idr, False) == AUD_H264 + idr
    assert framer.access_unit(idr, False) == AUD_H264 + idr


def test_new_extradata_replaces_the_parameter_sets():
    framer = AnnexBFramer("h264", b"")
    idr = b"\x00\x00\x01\x65\x88"
    assert framer.access_unit(idr, True) == AUD_H264 + idr  # nothing known to insert
    framer.set_extradata(b"\x00\x00\x00\x01\x67\x64" + b"\x00\x00\x00\x01\x68\xee")
    assert framer.access_unit(idr, True) == AUD_H264 + b"\x00\x00\x00\x01\x67\x64\x00\x00\x00\x01\x68\xee" + idr


def test_the_scan_stops_at_the_first_slice():
    # A start code pattern inside the slice would be emulation-prevented in real data; the scan
    # must not look there anyway.
    data = b"\x00\x00\x01\x06\x05" + b"\x00\x00\x01\x41\x9a" + b"\x00\x00\x01\x67"
    assert leading_nal_types(data, H264) == [6, 1]
    assert leading_nal_types(b"", H264) == [] and leading_nal_types(b"\x00\x00\x01", H264) == []


def test_truncated_length_prefixed_units_do_not_raise():
    record = bytes([1, 0x64, 0, 0x1E, 0xFF, 0xE1, 0, 2, 0x67, 0x64, 1, 0, 2, 0x68, 0xEE])
    framer = AnnexBFramer("h264", record)
    unit = framer.access_unit(b"\x00\x00\x00\x09\x65\x88", True)  # claims 9 bytes, has 2
    assert unit.endswith(b"\x00\x00\x00\x01\x65\x88")
    assert framer.access_unit(b"\x00\x00", False) == AUD_H264
