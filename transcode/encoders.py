"""H.264 encoders for the renditions: a hardware one when the machine has it, else libx264.

`VideoEncoder` is one rendition's scaler + encoder. It owns its `VideoReformatter` (a new
scaler per frame is what makes a naive PyAV loop fall behind; one scaler shared by two
threads deadlocks), and sets the encoder's `thread_type` to AUTO (PyAV's default leaves x264
in slice threads, far slower than frame threads).

The encoder lives as a stream of a never-started `mpegts` container: that stream is also the
template the packagers copy codec parameters from, and a container without global headers
makes the encoder put SPS/PPS in-band before every IDR frame — what MPEG-TS needs, and what
the CMAF packager reads its avcC from.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av
from av.video.reformatter import VideoReformatter

log = logging.getLogger("headwater.transcode")

HARDWARE_ENCODERS = ("h264_nvenc", "h264_qsv")
SOFTWARE_ENCODER = "libx264"
PIXEL_FORMAT = "yuv420p"
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
INTERPOLATION = "BICUBIC"  # what FFmpeg's scale filter uses by default (PyAV's own is bilinear)


class _NullSink:
    def write(self, data: bytes) -> int:
        return len(data)


def detect_h264_encoder(allow_hardware: bool = True) -> str:
    """The first hardware encoder that PyAV offers and that opens on this machine, else libx264.

    Opening a small encoder is the only reliable test: FFmpeg builds list NVENC/QSV whether
    or not a GPU (and its driver) is present.
    """
    if allow_hardware:
        for name in HARDWARE_ENCODERS:
            if name in av.codecs_available and _opens(name):
                return name
    return SOFTWARE_ENCODER


def _opens(name: str) -> bool:
    try:
        context = av.CodecContext.create(name, "w")
        context.width, context.height, context.pix_fmt = 256, 144, "yuv420p" if name != "h264_qsv" else "nv12"
        context.time_base = Fraction(1, 30)
        context.framerate = Fraction(30)
        context.open()
        return True
    except Exception as error:  # no device, no driver, no licence: all say "not here"
        log.debug("%s unavailable: %s", name, error)
        return False


class VideoEncoder:
    """Scales decoded frames to one rendition's size and encodes them."""

    def __init__(
        self,
        codec: str,
        width: int,
        height: int,
        bit_rate: int,
        frame_rate: float,
        time_base: Fraction,
        gop_seconds: float,
        preset: str,
    ) -> None:
        self.width, self.height = width, height
        self.reformatter = VideoReformatter()
        self.format = "nv12" if codec == "h264_qsv" else PIXEL_FORMAT
        self.holder = av.open(_NullSink(), "w", format="mpegts")
        rate = Fraction(frame_rate).limit_denominator(1001)
        self.stream = self.holder.add_stream(codec, rate=rate)
        self.stream.time_base = time_base
        context = self.stream.codec_context
        context.width, context.height, context.pix_fmt = width, height, self.format
        context.time_base = time_base
        context.framerate = rate
        context.bit_rate = bit_rate
        context.gop_size = max(1, round(frame_rate * gop_seconds))
        context.thread_type = "AUTO"
        context.options = encoder_options(codec, bit_rate, preset)
        context.open()
        self.context = context

    def encode(self, frame: av.VideoFrame) -> list[av.Packet]:
        """Scale and encode one frame whose pts, time base and pict_type the caller set.

        The same decoded frame goes to every rendition's thread, so it is only read here;
        when no scaling is needed `reformat` returns that very frame and it is encoded as is.
        """
        scaled = self.reformatter.reformat(
            frame, width=self.width, height=self.height, format=self.format, interpolation=INTERPOLATION
        )
        if scaled is not frame:
            scaled.pts, scaled.time_base, scaled.pict_type = frame.pts, frame.time_base, frame.pict_type
        return self.context.encode(scaled)

    def flush(self) -> list[av.Packet]:
        return self.context.encode(None)

    def close(self) -> None:
        self.holder = None


def encoder_options(codec: str, bit_rate: int, preset: str) -> dict[str, str]:
    """Constant-ish bitrate for live: maxrate = target, a one-second VBV buffer, no scene cuts
    (IDR frames only where the keyframe plan puts them)."""
    kbit = f"{bit_rate // 1000}k"
    if codec == SOFTWARE_ENCODER:
        return {"preset": preset, "maxrate": kbit, "bufsize": kbit, "sc_threshold": "0", "forced-idr": "1"}
    if codec == "h264_nvenc":
        return {"preset": "p3", "tune": "ll", "rc": "cbr", "maxrate": kbit, "bufsize": kbit, "forced-idr": "1"}
    return {"preset": "veryfast", "maxrate": kbit, "bufsize": kbit, "forced_idr": "1"}
