"""AdtsFramer against the ADTS headers ffmpeg itself writes for the same AAC stream."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import pytest

from packager.adts import AdtsFramer, audio_specific_config, is_adts


def encode(path: Path, *, rate: int, channels: int) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=sample_rate={rate}",
            "-t",
            "1",
            "-ac",
            str(channels),
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            str(path),
        ],
        check=True,
    )
    return path


def frames(path: Path) -> tuple[list[bytes], tuple[bytes, int, int]]:
    """The raw packets and (extradata, sample rate, channels) of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        data = [bytes(p) for p in container.demux(stream) if p.size]
        return data, (bytes(stream.codec_context.extradata or b""), stream.sample_rate, stream.channels)


@pytest.mark.parametrize(("rate", "channels"), [(48000, 2), (44100, 1), (22050, 2)])
def test_headers_match_ffmpegs_for_raw_frames(tmp_path, rate, channels):
    raw, (extradata, sample_rate, layout_channels) = frames(encode(tmp_path / "a.flv", rate=rate, channels=channels))
    adts, _ = frames(encode(tmp_path / "a.aac", rate=rate, channels=channels))  # ffmpeg's ADTS muxer
    framer = AdtsFramer(extradata, sample_rate, layout_channels)
    ours = [framer.frame(frame) for frame in raw]
    assert [frame[:7] for frame in ours] == [frame[:7] for frame in adts]  # bit for bit
    assert all(int.from_bytes(f[3:6], "big") >> 5 & 0x1FFF == len(f) for f in ours)  # frame_length
    decoder = av.CodecContext.create("aac", "r")
    decoded = sum(len(decoder.decode(av.Packet(f))) for f in ours)
    assert decoded >= len(ours) - 2


def test_adts_frames_pass_unchanged_and_are_recognised(tmp_path):
    adts, _ = frames(encode(tmp_path / "b.aac", rate=48000, channels=2))
    framer = AdtsFramer(b"\x11\x90")
    assert all(is_adts(f) and framer.frame(f) is f for f in adts)
    assert not is_adts(b"\xff\xf1\x50") and not is_adts(b"\x21\x10\x05\x00\x00\x00\x00")


def test_config_from_the_stream_when_the_extradata_is_missing_or_escaped():
    assert audio_specific_config(b"", 44100, 1) == (2, 4, 1)
    assert audio_specific_config(b"\x12\x10", None, None) == (2, 4, 2)  # LC, 44.1 kHz, stereo
    assert audio_specific_config(b"\x17\x80\x00", 48000, 2) == (2, 3, 2)  # frequency index 15 escape, truncated
    explicit_8k_mono = bytes([0x17, 0x80, 0x0F, 0xA0, 0x08])  # escaped rate: the config's, not the stream's
    assert audio_specific_config(explicit_8k_mono, 44100, 2) == (2, 11, 1)
    he_aac = AdtsFramer(b"\x2b\x92\x08\x00")  # object type 5 (SBR): ADTS says LC
    assert he_aac.frame(b"x")[2] >> 6 == 1


def test_a_frame_too_long_for_adts_is_refused():
    with pytest.raises(ValueError, match="does not fit an ADTS header"):
        AdtsFramer(b"\x11\x90").frame(b"\x00" * 9000)
