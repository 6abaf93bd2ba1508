"""Box parsing and splitting on real muxer output, and on truncated/broken bytes."""

from __future__ import annotations

import struct

import av
import pytest

from packager.cmaf import BoxSplitter, Frame, StreamTemplate, TrackFragmenter, adts_audio_specific_config
from packager.isobmff import BoxError, iter_boxes, parse_init, read_box_header
from packager.moof import build_fragment, parse_fragment


@pytest.fixture(scope="module")
def fragmented(clip_1s_gop):
    """(init, [fragments]) of the clip's video through a TrackFragmenter, each fragment
    written out as its own moof+mdat."""
    inits, fragments = [], []
    with av.open(str(clip_1s_gop)) as source:
        stream = source.streams.video[0]
        fragmenter = TrackFragmenter(
            StreamTemplate(stream),
            lambda data, info: inits.append(data),
            lambda fragment: fragments.append(build_fragment(len(fragments) + 1, [fragment])),
        )
        for packet in source.demux(stream):
            if packet.size:
                time_base = (packet.time_base.numerator, packet.time_base.denominator)
                fragmenter.mux(
                    Frame(bytes(packet), packet.pts, packet.dts, packet.duration, time_base, packet.is_keyframe)
                )
        fragmenter.close()
    return inits[0], fragments


def test_init_says_timescale_and_codec(fragmented):
    init, _ = fragmented
    info = parse_init(init)
    assert info.timescale == 90000
    assert info.codec == "avc1.64000d"
    assert [box.type for box in iter_boxes(init)] == ["ftyp", "moov"]


def test_one_sample_per_fragment_with_contiguous_decode_times(fragmented):
    init, fragments = fragmented
    info = parse_init(init)
    expected = None
    for fragment in fragments:
        timing = parse_fragment(fragment, info.default_sample_duration, info.default_sample_flags)
        assert timing.sample_count == 1
        if expected is not None:
            assert timing.base_decode_time == expected
        expected = timing.base_decode_time + timing.duration
    assert len(fragments) == 150
    keyframes = [parse_fragment(f, 0, info.default_sample_flags).first_sample_is_sync for f in fragments]
    assert [i for i, k in enumerate(keyframes) if k] == list(range(0, 150, 25))
    first = parse_fragment(fragments[0])
    assert first.samples[0].size == len(first.payload) and first.data == fragments[0]


def test_merged_fragment_decodes_like_the_originals(fragmented, tmp_path):
    init, fragments = fragmented
    info = parse_init(init)
    parsed = [parse_fragment(f, info.default_sample_duration, info.default_sample_flags) for f in fragments[:12]]
    merged = build_fragment(1, parsed)
    timing = parse_fragment(merged)
    assert timing.sample_count == 12 and timing.first_sample_is_sync
    assert timing.duration == sum(p.duration for p in parsed)
    assert [s.composition_offset for s in timing.samples] == [s.composition_offset for p in parsed for s in p.samples]
    (tmp_path / "a.mp4").write_bytes(init + b"".join(fragments[:12]))
    (tmp_path / "b.mp4").write_bytes(init + merged)
    frames = []
    for name in ("a.mp4", "b.mp4"):
        with av.open(str(tmp_path / name)) as container:
            frames.append([(f.pts, f.to_ndarray().sum()) for f in container.decode(video=0)])
    assert frames[0] == frames[1] and len(frames[0]) == 12


def test_splitter_handles_any_write_sizes(fragmented):
    init, fragments = fragmented
    stream = init + b"".join(fragments[:30]) + struct.pack(">I4s", 16, b"mfra") + bytes(8)
    got_init, got_fragments = [], []
    splitter = BoxSplitter(got_init.append, got_fragments.append)
    for offset in range(0, len(stream), 7):
        splitter.write(stream[offset : offset + 7])
    assert got_init == [init] and got_fragments == fragments[:30]
    assert splitter.pending_bytes == 0


def test_splitter_waits_for_a_truncated_box_and_rejects_garbage(fragmented):
    init, fragments = fragmented
    got = []
    splitter = BoxSplitter(got.append, got.append)
    splitter.write(init + fragments[0][:-5])
    assert got == [init]
    assert splitter.pending_bytes == len(fragments[0]) - 5
    with pytest.raises(BoxError):
        BoxSplitter(got.append, got.append).write(struct.pack(">I4s", 3, b"ftyp"))
    with pytest.raises(BoxError):
        BoxSplitter(got.append, got.append).write(struct.pack(">I4s", 8, b"mdat"))


@pytest.mark.parametrize("cut", [1, 8, 20, 40, 60])
def test_truncated_fragments_raise_box_errors(fragmented, cut):
    _, fragments = fragmented
    moof = next(iter_boxes(fragments[0]))
    with pytest.raises(BoxError):
        parse_fragment(fragments[0][: min(cut, moof.size - 1)])


def test_truncated_or_mutated_init_raises_box_error(fragmented):
    init, _ = fragmented
    for cut in (10, 100, len(init) // 2, len(init) - 1):
        with pytest.raises(BoxError):
            parse_init(init[:cut])
    mutated = bytearray(init)
    moov = list(iter_boxes(init))[1]
    mutated[moov.offset + 8 : moov.offset + 12] = struct.pack(">I", 0xFFFFFF)  # first child too big
    with pytest.raises(BoxError):
        parse_init(bytes(mutated))


def test_box_header_sizes():
    assert read_box_header(b"\x00\x00", 0) is None
    large = struct.pack(">I4sQ", 1, b"mdat", 24) + bytes(8)
    header = read_box_header(large, 0)
    assert (header.type, header.size, header.header_size) == ("mdat", 24, 16)
    assert read_box_header(struct.pack(">I4s", 1, b"mdat"), 0) is None  # large size not there yet


def test_adts_config():
    # AAC LC, 48 kHz (index 3), mono: ASC 0x1188
    header = bytes([0xFF, 0xF1, 0x4C, 0x40, 0x20, 0x1F, 0xFC])
    assert adts_audio_specific_config(header) == bytes([0x11, 0x88])
    assert adts_audio_specific_config(b"\x21\x10\x05") is None


def test_mutated_fragment_sizes_raise_box_errors(fragmented):
    _, fragments = fragmented
    data = bytearray(fragments[30])
    mdat = list(iter_boxes(bytes(data)))[1]
    data[mdat.offset : mdat.offset + 4] = struct.pack(">I", 9)  # mdat smaller than its samples
    with pytest.raises(BoxError):
        parse_fragment(bytes(data))


def test_annex_b_to_length_prefixed():
    from packager.cmaf import annex_b_to_length_prefixed

    annex_b = b"\x00\x00\x00\x01\x67\x64\x00" + b"\x00\x00\x01\x68\xeb" + b"\x00\x00\x00\x01\x65\x88\x84\x00"
    assert annex_b_to_length_prefixed(annex_b) == (
        b"\x00\x00\x00\x02\x67\x64" + b"\x00\x00\x00\x02\x68\xeb" + b"\x00\x00\x00\x04\x65\x88\x84\x00"
    )
    length_prefixed = b"\x00\x00\x00\x02\x65\x88"
    assert annex_b_to_length_prefixed(length_prefixed) == length_prefixed
