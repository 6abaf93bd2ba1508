"""The rendition encoder: IDR frames exactly where forced, the right size, SPS/PPS in-band."""

from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType

from transcode.encoders import SOFTWARE_ENCODER, VideoEncoder, _opens, detect_h264_encoder

TIME_BASE = Fraction(1, 1000)


def source_frames(count: int, width: int = 320, height: int = 240):
    for index in range(count):
        image = np.full((height, width, 3), index * 2 % 256, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index * 40, TIME_BASE
        yield frame


def encode(forced: set[int], count: int = 100, gop_seconds: float = 10.0) -> list[av.Packet]:
    encoder = VideoEncoder(SOFTWARE_ENCODER, 160, 120, 200_000, 25.0, TIME_BASE, gop_seconds, "ultrafast")
    packets = []
    for index, frame in enumerate(source_frames(count)):
        frame.pict_type = PictureType.I if index in forced else PictureType.NONE
        packets += encoder.encode(frame)
    return packets + encoder.flush()


def test_idr_frames_exactly_on_the_forced_frames():
    packets = encode({0, 37, 50, 88})
    assert sorted(p.pts for p in packets if p.is_keyframe) == [0, 37 * 40, 50 * 40, 88 * 40]
    assert len(packets) == 100


def test_keyframes_carry_sps_and_pps_in_band_at_the_rendition_size():
    packets = encode({0, 50})
    keyframe = bytes(next(p for p in packets if p.pts == 50 * 40))
    nal_types = {keyframe[i + 3] & 0x1F for i in range(len(keyframe) - 4) if keyframe[i : i + 3] == b"\0\0\1"}
    assert {7, 8, 5} <= nal_types  # SPS, PPS, IDR slice
    decoder = av.CodecContext.create("h264", "r")
    frames = [f for p in packets for f in decoder.decode(p)] + decoder.decode(None)
    assert {(f.width, f.height) for f in frames} == {(160, 120)}


def test_without_hardware_the_software_encoder_is_chosen():
    assert detect_h264_encoder(allow_hardware=False) == SOFTWARE_ENCODER
    assert _opens(detect_h264_encoder())
