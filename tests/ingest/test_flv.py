import struct

from ingest.flv import flv_header, flv_tag, is_sequence_header, is_video_keyframe, unsupported_codec
from ingest.media import AUDIO, DATA, VIDEO, MediaMessage


def test_header_layout():
    assert flv_header() == b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"
    assert flv_header(audio=False)[4] == 0x01
    assert flv_header(video=False)[4] == 0x04
    assert len(flv_header()) == 13


def test_tag_layout():
    tag = flv_tag(MediaMessage(VIDEO, 0x12345678, b"\x17\x01abc"))
    assert tag[0] == VIDEO
    assert tag[1:4] == (5).to_bytes(3, "big")
    assert tag[4:7] == bytes((0x34, 0x56, 0x78))  # lower 24 bits
    assert tag[7] == 0x12  # extended byte carries the upper 8
    assert tag[8:11] == b"\x00\x00\x00"  # stream id
    assert tag[11:16] == b"\x17\x01abc"
    assert struct.unpack(">I", tag[16:])[0] == 11 + 5
    assert len(tag) == 11 + 5 + 4


def test_tag_timestamp_beyond_32_bits_wraps_like_flv():
    big = flv_tag(MediaMessage(AUDIO, (1 << 32) + 7, b"\xaf\x01"))
    assert big[4:8] == bytes((0, 0, 7, 0))


def test_data_tag_and_large_payload():
    payload = bytes(range(256)) * 1000
    tag = flv_tag(MediaMessage(DATA, 1, payload))
    assert tag[0] == 18 and int.from_bytes(tag[1:4], "big") == len(payload)
    assert tag[11:-4] == payload


def test_avc_classification():
    header = MediaMessage(VIDEO, 0, b"\x17\x00\x00\x00\x00\x01\x64")
    key = MediaMessage(VIDEO, 0, b"\x17\x01\x00\x00\x00....")
    inter = MediaMessage(VIDEO, 40, b"\x27\x01\x00\x00\x00....")
    assert is_sequence_header(header) and not is_video_keyframe(header)
    assert is_video_keyframe(key) and not is_sequence_header(key)
    assert not is_video_keyframe(inter) and not is_sequence_header(inter)
    assert unsupported_codec(header) is None


def test_aac_classification():
    config = MediaMessage(AUDIO, 0, b"\xaf\x00\x12\x10")
    frame = MediaMessage(AUDIO, 23, b"\xaf\x01\x21")
    assert is_sequence_header(config) and not is_sequence_header(frame)
    assert not is_video_keyframe(config)
    assert unsupported_codec(config) is None


def test_enhanced_rtmp_hevc():
    # ExHeader bit | frame type 1 | packet type, then the FourCC
    start = MediaMessage(VIDEO, 0, bytes((0x80 | 0x10 | 0,)) + b"hvc1" + b"\x01")
    coded = MediaMessage(VIDEO, 0, bytes((0x80 | 0x10 | 1,)) + b"hvc1\x00\x00\x00....")
    coded_x = MediaMessage(VIDEO, 0, bytes((0x80 | 0x10 | 3,)) + b"hvc1....")
    inter = MediaMessage(VIDEO, 0, bytes((0x80 | 0x20 | 1,)) + b"hvc1\x00\x00\x00....")
    assert is_sequence_header(start) and not is_video_keyframe(start)
    assert is_video_keyframe(coded) and is_video_keyframe(coded_x) and not is_video_keyframe(inter)
    assert unsupported_codec(start) is None
    assert unsupported_codec(MediaMessage(VIDEO, 0, bytes((0x90,)) + b"av01")) is not None


def test_unsupported_codecs_say_why():
    assert "Sorenson" in unsupported_codec(MediaMessage(VIDEO, 0, b"\x22\x00"))
    assert "VP6" in unsupported_codec(MediaMessage(VIDEO, 0, b"\x14"))
    assert "MP3" in unsupported_codec(MediaMessage(AUDIO, 0, b"\x2f\xff"))
    assert unsupported_codec(MediaMessage(AUDIO, 0, b"")) is None
    assert unsupported_codec(MediaMessage(DATA, 0, b"\x02")) is None
