"""A source that changes picture size mid-stream: the SPS is read, and the outputs tell it.

Real x264 streams throughout: SPS of many sizes (cropped ones included), a TS and an FLV of
two encodes joined (the new SPS in-band), an FLV spliced with a second sequence header (what
OBS or GStreamer send), and broken parameter sets, which must never stop a stream.
"""

from __future__ import annotations

import io
import subprocess
import xml.etree.ElementTree as ET

import av
import pytest
from packager_testkit import FAKE_NOW, make_clip, parse_media_playlist
from test_ts_output import splice_flv

from packager.annexb import parse_avcc
from packager.live import LiveOutput, PackagerConfig
from packager.parameter_sets import (
    ParameterSetError,
    VideoFormatWatch,
    avcc_record,
    extradata_units,
    parse_sps,
)
from tests.support.size_change import init_sizes, init_sps, size_changing_clip

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    directory = tmp_path_factory.mktemp("size-change")
    return {kind: size_changing_clip(directory, container=kind) for kind in ("mpegts", "flv")}


def sps_of(path, **options) -> bytes:
    with av.open(str(path)) as container:
        return extradata_units(bytes(container.streams.video[0].codec_context.extradata))[0]


@pytest.mark.parametrize(
    ("size", "x264"),
    [
        ("426x240", []),
        ("320x180", []),
        ("1280x720", []),
        ("854x480", ["-profile:v", "baseline"]),
        ("98x62", ["-pix_fmt", "yuv444p"]),
        ("176x144", ["-pix_fmt", "yuv422p", "-x264-params", "interlaced=1"]),
    ],
)
def test_the_sps_gives_the_cropped_picture_size(tmp_path, size, x264):
    clip = tmp_path / "one.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25",
            "-frames:v",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            *x264,
            str(clip),
        ],
        check=True,
    )
    sps = parse_sps(sps_of(clip))
    assert f"{sps.width}x{sps.height}" == size
    with av.open(str(clip)) as container:
        record = bytes(container.streams.video[0].codec_context.extradata)
    assert sps.codec == "avc1." + record[1:4].hex()


def test_broken_parameter_sets_are_an_error_not_a_crash(tmp_path):
    sps = sps_of(make_clip(tmp_path / "c.flv", seconds=1))
    for broken in (sps[:5], sps[:1], b"", b"\x68\xee\x3c\x80", b"\x67" + b"\x00" * 40, b"\x67" + b"\xff" * 3):
        with pytest.raises(ParameterSetError):
            parse_sps(broken)
    mutated = [sps[:n] for n in range(len(sps))] + [
        sps[:i] + bytes((sps[i] ^ flip,)) + sps[i + 1 :] for i in range(1, len(sps)) for flip in (0x01, 0x80, 0xFF)
    ]
    for broken in mutated:  # an error or some SPS, never another exception
        try:
            avcc_record([broken], parse_sps(broken), 4)
        except ParameterSetError:
            pass


@pytest.mark.parametrize("extradata", [b"\x01", b"\x01\x64\x00", b"\x01" + b"\xff" * 40, b"\x00\x00\x01\x67"])
def test_broken_extradata_gives_no_format_and_no_crash(extradata):
    watch = VideoFormatWatch(extradata)
    assert watch.size is None


def test_garbage_keyframes_leave_the_format_as_it_was(tmp_path):
    clip = make_clip(tmp_path / "c.flv", seconds=1)
    with av.open(str(clip)) as container:
        watch = VideoFormatWatch(bytes(container.streams.video[0].codec_context.extradata))
        for packet in container.demux(video=0):
            if packet.is_keyframe:
                packet = av.Packet(b"\x00\x00\x00\x05\x67\xff\xff\xff\xff" + bytes(packet)[:40])
                packet.is_keyframe = True
                assert watch.check(packet) is None
    annex_b = VideoFormatWatch(b"\x00\x00\x00\x01" + sps_of(clip))
    for garbage in (b"\x00\x00\x01\x00\x00\x01\x67", b"\x00\x00\x01", b"\x00\x00\x01\x67\x00\x00\x01\x65\x88"):
        packet = av.Packet(garbage)
        packet.is_keyframe = True
        assert annex_b.check(packet) is None
    other = sps_of(make_clip(tmp_path / "small.flv", seconds=1, sizes=("160x120",)))
    packet = av.Packet(b"\x00\x00\x01\x00\x00\x01" + other + b"\x00\x00\x01\x65\x88")  # an empty unit first
    packet.is_keyframe = True
    changed = annex_b.check(packet)
    assert (changed.sps.width, changed.sps.height) == (160, 120) and changed.extradata == b"\x00\x00\x00\x01" + other
    assert watch.size == (320, 240)


@pytest.mark.parametrize("kind", ["mpegts", "flv"])
def test_the_watch_tells_the_first_keyframe_at_the_new_size(clips, kind):
    with av.open(str(clips[kind])) as container:
        stream = container.streams.video[0]
        watch = VideoFormatWatch(bytes(stream.codec_context.extradata or b""))
        assert watch.size == (640, 360)
        start = stream.start_time * stream.time_base
        changes = [
            (round(float(packet.pts * packet.time_base) - start, 2), packet.is_keyframe, changed)
            for packet in container.demux(stream)  # in order: the watch keeps state
            if packet.size and (changed := watch.check(packet)) is not None
        ]
    assert [(key, (c.sps.width, c.sps.height)) for _, key, c in changes] == [(True, (320, 180))]
    assert changes[0][0] == pytest.approx(4.0, abs=0.05)  # the second encode's first frame
    extradata = changes[0][2].extradata
    if kind == "flv":  # the packets are length-prefixed: an avcC record, as the FLV's own
        length_size, units = parse_avcc(extradata)
        assert length_size == 4 and [u[0] & 0x1F for u in units] == [7, 8]
    else:  # Annex B packets: Annex B parameter sets
        assert extradata.startswith(b"\x00\x00\x00\x01\x67")
    assert parse_sps(extradata_units(extradata)[0]) == changes[0][2].sps
    assert watch.size == (320, 180)


def test_a_new_flv_sequence_header_counts_from_the_next_keyframe(tmp_path):
    big = make_clip(tmp_path / "big.flv", seconds=2)
    small = make_clip(tmp_path / "small.flv", seconds=2, sizes=("160x120",))
    source = splice_flv(big, small, tmp_path / "both.flv", shift_ms=2200)
    with av.open(str(source)) as container:
        watch = VideoFormatWatch(bytes(container.streams.video[0].codec_context.extradata))
        changes = [
            (packet.is_keyframe, changed)
            for packet in container.demux(video=0)
            if (changed := watch.check(packet)) is not None
        ]
    assert [(key, c.sps.width, c.sps.height) for key, c in changes] == [(True, 160, 120)]
    assert changes[0][1].extradata[:1] == b"\x01"  # the sequence header itself


def test_an_avcc_record_built_from_in_band_units_is_the_encoders(tmp_path):
    with av.open(str(make_clip(tmp_path / "c.flv", seconds=1))) as container:
        record = bytes(container.streams.video[0].codec_context.extradata)
    units = extradata_units(record)
    assert avcc_record(units, parse_sps(units[0]), 4) == record


def package_with_watch(clip, out_dir):
    """Feed a LiveOutput as the origin job does: the watch's change goes before its keyframe."""
    events: list[dict] = []
    output = LiveOutput(PackagerConfig(out_dir), events.append, clock=lambda: FAKE_NOW)
    frames = []
    with av.open(str(clip)) as container:
        video = output.add_video("origin", container.streams.video[0])
        audio = output.add_audio(container.streams.audio[0])
        watch = VideoFormatWatch(bytes(container.streams.video[0].codec_context.extradata or b""))
        for packet in container.demux():
            if not packet.size:
                continue
            if packet.stream.type == "video":
                frames.append(float(packet.pts * packet.time_base))
                if (changed := watch.check(packet)) is not None:
                    output.change_format(video, changed.sps.width, changed.sps.height, changed.extradata)
                output.mux(video, packet)
            else:
                output.mux(audio, packet)
    output.close()
    return events, sorted(frames)


@pytest.fixture(scope="module", params=["mpegts", "flv"])
def changed_run(request, clips, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"changed-{request.param}")
    events, frames = package_with_watch(clips[request.param], out)
    return out, events, frames


def test_a_new_init_segment_has_the_new_size(changed_run):
    out, events, _ = changed_run
    inits = [(e["rendition"], e["path"], e["generation"]) for e in events if e["event"] == "init"]
    assert inits == [
        ("origin", "origin/init.mp4", 0),
        ("audio", "audio/init.mp4", 0),
        ("origin", "origin/init_1.mp4", 1),
        ("audio", "audio/init_1.mp4", 1),
    ]
    first, second = ((out / "origin" / name).read_bytes() for name in ("init.mp4", "init_1.mp4"))
    assert (init_sps(first).width, init_sps(first).height) == (640, 360)
    assert (init_sps(second).width, init_sps(second).height) == (320, 180)
    assert init_sizes(first) == ((640, 360), (640, 360))
    assert init_sizes(second) == ((320, 180), (320, 180))
    assert (out / "audio/init_1.mp4").read_bytes() == (out / "audio/init.mp4").read_bytes()


def test_every_playlist_has_the_discontinuity_at_the_same_segment(changed_run):
    out, _, _ = changed_run
    origin = parse_media_playlist((out / "origin/index.m3u8").read_text())
    audio = parse_media_playlist((out / "audio/index.m3u8").read_text())
    for playlist in (origin, audio):
        marked = [s.msn for s in playlist.segments if s.discontinuity]
        maps = {s.msn: s.map_uri for s in playlist.segments}
        assert marked == [2], marked  # 2 s segments: 0-2, 2-4, then the new size at 4 s
        assert [maps[m] for m in sorted(maps)] == ["init.mp4"] * 2 + ["init_1.mp4"] * (len(maps) - 2)


def test_segments_decode_at_their_size_and_every_frame_keeps_its_time(changed_run, clips):
    out, _, source_times = changed_run
    playlist = parse_media_playlist((out / "origin/index.m3u8").read_text())
    times = []
    for segment in playlist.segments:
        init = (out / "origin" / segment.map_uri).read_bytes()
        with av.open(io.BytesIO(init + (out / "origin" / segment.uri).read_bytes())) as container:
            frames = list(container.decode(video=0))
        times += [float(f.pts * f.time_base) for f in frames]
        assert {(f.width, f.height) for f in frames} == {(640, 360) if segment.msn < 2 else (320, 180)}, segment.msn
    # no frame lost, and the timeline runs on across the change: one offset from the source's
    assert len(times) == len(source_times)
    offsets = [round(t - s, 3) for t, s in zip(sorted(times), source_times)]
    assert max(offsets) - min(offsets) <= 0.001, offsets


def test_the_master_tells_the_new_size_and_profile(changed_run):
    out, events, _ = changed_run
    codecs = [init_sps((out / "origin" / name).read_bytes()).codec for name in ("init.mp4", "init_1.mp4")]
    assert codecs[0] != codecs[1]  # x264 picked another level for the smaller size
    masters = [e["text"] for e in events if e["event"] == "master"]
    assert "RESOLUTION=640x360" in masters[0] and f'CODECS="{codecs[0]},' in masters[0]
    assert "RESOLUTION=320x180" in masters[-1] and f'CODECS="{codecs[1]},' in masters[-1]
    assert (out / "master.m3u8").read_text() == masters[-1]


def test_the_mpd_has_a_period_per_size(changed_run):
    out, _, _ = changed_run
    root = ET.fromstring((out / "index.mpd").read_text())
    periods = root.findall("d:Period", MPD_NS)
    assert [p.get("id") for p in periods] == ["0", "1"]
    seen = []
    for period in periods:
        video = period.find(".//d:Representation[@id='origin']", MPD_NS)
        template = video.find("d:SegmentTemplate", MPD_NS)
        seen.append(
            (
                video.get("width"),
                video.get("height"),
                video.get("codecs"),
                template.get("initialization"),
                template.get("startNumber"),
            )
        )
        assert period.find(".//d:Representation[@id='audio']", MPD_NS) is not None
    codecs = [init_sps((out / "origin" / name).read_bytes()).codec for name in ("init.mp4", "init_1.mp4")]
    assert seen == [
        ("640", "360", codecs[0], "$RepresentationID$/init.mp4", "0"),
        ("320", "180", codecs[1], "$RepresentationID$/init_1.mp4", "2"),
    ]
    assert float(periods[1].get("start")[2:-1]) == pytest.approx(4.0, abs=0.05)


def test_only_the_leading_video_track_changes_format(tmp_path):
    clip = make_clip(tmp_path / "two.ts", seconds=1, sizes=("320x240", "160x120"))
    output = LiveOutput(PackagerConfig(tmp_path / "out"), lambda event: None)
    with av.open(str(clip)) as container:
        output.add_video("origin", container.streams.video[0])
        second = output.add_video("low", container.streams.video[1])
        audio = output.add_audio(container.streams.audio[0])
    for track in (second, audio):
        with pytest.raises(ValueError, match="only the leading video track"):
            output.change_format(track, 160, 120, b"")


def test_a_format_change_before_the_first_init_segment_is_its_format(clips, tmp_path):
    """A worker resumed on a keyframe whose SPS is newer than the sequence header it was given."""
    events: list[dict] = []
    output = LiveOutput(PackagerConfig(tmp_path), events.append, clock=lambda: FAKE_NOW)
    with av.open(str(clips["mpegts"])) as container:
        stream = container.streams.video[0]
        video = output.add_video("origin", stream)
        audio = output.add_audio(container.streams.audio[0])
        watch = VideoFormatWatch(bytes(stream.codec_context.extradata))
        for packet in container.demux():
            if not packet.size or float((packet.pts - stream.start_time) * packet.time_base) < 4:
                continue  # the 640x360 part never reaches the packager
            if packet.stream.type == "video" and (changed := watch.check(packet)) is not None:
                assert output.change_format(video, changed.sps.width, changed.sps.height, changed.extradata) is False
            output.mux(video if packet.stream.type == "video" else audio, packet)
    output.close()
    assert [e["path"] for e in events if e["event"] == "init"] == ["origin/init.mp4", "audio/init.mp4"]
    init = (tmp_path / "origin/init.mp4").read_bytes()
    assert (init_sps(init).width, init_sps(init).height) == (320, 180) and init_sizes(init)[0] == (320, 180)
    playlist = parse_media_playlist((tmp_path / "origin/index.m3u8").read_text())
    assert not any(s.discontinuity for s in playlist.segments)
    assert "RESOLUTION=320x180" in (tmp_path / "master.m3u8").read_text()
