"""AAC is signalled as its AudioSpecificConfig says, whatever its container's header claims.

FLV's audio tag header says 44 kHz stereo for every AAC stream, and a worker's demuxer that
opened the input after a few tags repeats it (issue 17); a template stream that claims
44100 Hz stereo while its config says 48 kHz mono is that case.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import av
import pytest
from packager_testkit import FAKE_NOW

from packager.aac import AacConfig, parse_audio_specific_config, try_parse_audio_specific_config
from packager.cmaf import Frame, FrameClock, StreamTemplate, TrackFragmenter
from packager.live import LiveOutput, PackagerConfig
from tests.support.hls import parse_master_playlist
from tests.support.init_conformance import _mpd_audio, check_init, sample_durations

MONO_48K = bytes([0x11, 0x88])  # AAC LC, 48 kHz, 1 channel
FRAME = 1024


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (MONO_48K, AacConfig(2, 48000, 1, 1024)),
        (bytes([0x12, 0x10]), AacConfig(2, 44100, 2, 1024)),
        (bytes([0x11, 0x8C]), AacConfig(2, 48000, 1, 960)),  # frameLengthFlag
        (bytes([0x17, 0x80, 0x0F, 0xA0, 0x08]), AacConfig(2, 8000, 1, 1024)),  # explicit rate, escape index
        (bytes([0x2B, 0x92, 0x08, 0x00]), AacConfig(2, 44100, 2, 2048)),  # HE-AAC explicit: 22.05 kHz core, SBR 44.1
    ],
)
def test_audio_specific_configs(config, expected):
    assert parse_audio_specific_config(config) == expected


def test_channel_configuration_seven_is_eight_channels():
    assert AacConfig(2, 48000, 7, 1024).channel_count == 8
    assert AacConfig(2, 48000, 2, 1024).channel_count == 2


@pytest.mark.parametrize("config", [b"", b"\x11", bytes([0x17, 0x80, 0x00]), bytes([0x16, 0x88])])
def test_truncated_or_reserved_configs_are_refused(config):
    assert try_parse_audio_specific_config(config) is None
    if config:
        with pytest.raises(ValueError, match=r"truncated|reserved"):
            parse_audio_specific_config(config)


def test_frame_clock_makes_millisecond_timestamps_exact_frames():
    clock = FrameClock(FRAME)
    input_ticks = [round(round(k * 1024 / 48) * 48) for k in range(500)]  # FLV: whole ms, at 48 kHz
    placed = [clock.place(t) for t in input_ticks]
    assert {b - a for a, b in zip(placed, placed[1:])} == {FRAME}
    assert max(abs(p - t) for p, t in zip(placed, input_ticks)) <= FRAME // 2


def test_frame_clock_follows_a_gap_and_a_drifting_source():
    clock = FrameClock(FRAME)
    placed = [clock.place(k * FRAME) for k in range(10)]
    placed.append(clock.place(15 * FRAME))  # five frames lost: the gap stays a gap
    assert placed[-1] == 15 * FRAME
    drifting = [round(k * FRAME * 1.002) for k in range(16, 1000)]  # the encoder's clock runs fast
    placed += [clock.place(t) for t in drifting]
    assert all(abs(p - t) <= FRAME // 2 for p, t in zip(placed[11:], drifting))
    steps = [b - a for a, b in zip(placed, placed[1:])]
    assert min(steps) > 0 and steps.count(FRAME) > 0.99 * len(steps) - 5


def test_frame_clock_never_goes_back():
    clock = FrameClock(FRAME)
    first = clock.place(10_000)
    assert clock.place(10_000 + 10) > first  # far behind the frame it should be


def lying_template(holder, config: bytes = MONO_48K):
    """An AAC stream that claims 44100 Hz stereo, as the worker's FLV demuxer says."""
    stream = holder.add_stream("aac", rate=44100)
    stream.codec_context.layout = "stereo"
    stream.codec_context.extradata = config
    return stream


@pytest.fixture(scope="module")
def mono_48k(tmp_path_factory) -> dict[str, Path]:
    """4 s of 48 kHz mono AAC with 25 fps video, in FLV (ms timestamps) and MPEG-TS (ADTS)."""
    folder = tmp_path_factory.mktemp("aac")
    clips = {}
    for container in ("flv", "ts"):
        clips[container] = folder / f"mono48k.{container}"
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
                "sine=frequency=440:sample_rate=48000",
                "-t",
                "4",
                "-ac",
                "1",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "25",
                "-c:a",
                "aac",
                "-b:a",
                "48k",
                str(clips[container]),
            ],
            check=True,
        )
    return clips


def audio_frames(clip: Path) -> list[Frame]:
    with av.open(str(clip)) as container:
        stream = container.streams.audio[0]
        tb = stream.time_base
        return [
            Frame(bytes(p), p.pts, p.dts, p.duration, (tb.numerator, tb.denominator), True)
            for p in container.demux(stream)
            if p.size
        ]


@pytest.mark.parametrize("container", ["flv", "ts"])
def test_init_and_samples_follow_the_config_not_the_stream_header(mono_48k, container):
    holder = av.open(io.BytesIO(), mode="w", format="mp4")
    inits, fragments = [], []
    config = MONO_48K if container == "flv" else b""  # MPEG-TS: only the ADTS headers say it
    fragmenter = TrackFragmenter(
        StreamTemplate(lying_template(holder, config)), lambda init, info: inits.append((init, info)), fragments.append
    )
    frames = audio_frames(mono_48k[container])
    for frame in frames:
        fragmenter.mux(frame)
    fragmenter.close()
    init, info = inits[0]
    facts = check_init(init)
    assert (facts.timescale, facts.sample_rate, facts.channel_count) == (48000, 48000, 1)
    assert (info.timescale, info.sample_rate, info.aac.channel_count) == (48000, 48000, 1)
    assert {f.duration for f in fragments} == {FRAME}
    for frame, fragment in zip(frames, fragments):  # within half a frame of the input's time
        num, den = frame.time_base
        assert abs(fragment.base_decode_time - frame.dts * num * 48000 / den) <= FRAME / 2 + 1


def test_manifests_signal_the_config(mono_48k, tmp_path):
    """Master CHANNELS, the MPD's timescale/audioSamplingRate/AudioChannelConfiguration and
    the segments' sample durations, for an FLV source whose stream header says 44.1 kHz stereo;
    audio stays in sync with video."""
    holder = av.open(io.BytesIO(), mode="w", format="mp4")
    output = LiveOutput(PackagerConfig(tmp_path), lambda event: None, clock=lambda: FAKE_NOW)
    video_input, audio_input = {}, []
    with av.open(str(mono_48k["flv"])) as container:
        video = output.add_video("origin", container.streams.video[0])
        audio = output.add_audio(lying_template(holder))
        for packet in container.demux():
            if not packet.size:
                continue
            if packet.stream.type == "video":
                video_input.setdefault("first", float(packet.dts * packet.time_base))
                output.mux(video, packet)
            else:
                audio_input.append(float(packet.dts * packet.time_base))
                output.mux(audio, packet)
    output.close()
    _, media = parse_master_playlist((tmp_path / "master.m3u8").read_text())
    assert media[0]["CHANNELS"] == "1"
    assert _mpd_audio((tmp_path / "index.mpd").read_text()) == {
        "timescale": 48000,
        "audioSamplingRate": "48000",
        "channels": "1",
    }
    check_init((tmp_path / "audio/init.mp4").read_bytes())
    segments = sorted((tmp_path / "audio").glob("seg_*.m4s"), key=lambda p: int(p.stem.split("_")[1]))
    durations = [d for path in segments for d in sample_durations(path.read_bytes())]
    assert set(durations) == {FRAME}
    video_start = _first_tfdt(tmp_path / "origin/seg_0.m4s") / 90000
    audio_start = _first_tfdt(segments[0]) / 48000
    shift = video_start - video_input["first"]  # media timeline − input timeline
    nearest = min(audio_input, key=lambda t: abs(t + shift - audio_start))
    assert abs(audio_start - (nearest + shift)) <= FRAME / 2 / 48000 + 0.001


def _first_tfdt(path: Path) -> int:
    from packager.moof import parse_fragment

    data = path.read_bytes()
    return parse_fragment(data).base_decode_time
