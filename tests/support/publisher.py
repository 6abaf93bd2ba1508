"""Broadcasters for the tests: Debian's ffmpeg and GStreamer, a generated test pattern with a
tone, pushed in real time."""

from __future__ import annotations

import shlex
import subprocess


def ffmpeg_publish(
    url: str,
    *,
    seconds: float = 8,
    size: str = "320x240",
    rate: int = 25,
    gop: int = 25,
    video_codec: list[str] | None = None,
    audio_codec: list[str] | None = None,
    extra: list[str] | None = None,
    container: str = "flv",
    pattern: str = "testsrc2",
    sample_rate: int = 44100,
    readrate: float = 1.0,
) -> subprocess.Popen:
    """Starts ffmpeg pushing `seconds` of a test pattern + sine (mono, `sample_rate` Hz) to
    `url`: FLV over RTMP, or `container="mpegts"` for SRT (`srt://…?streamid=…`). `pattern`
    is a lavfi source, with options of its own if need be (`color=c=gray`). `readrate`: how
    many times real time (a DVR window filled faster than it plays)."""
    video_codec = video_codec or [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
    ]
    audio_codec = audio_codec or ["-c:a", "aac", "-b:a", "64k"]
    command = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        *(["-re"] if readrate == 1.0 else ["-readrate", str(readrate)]),
        "-f",
        "lavfi",
        "-i",
        f"{pattern}{':' if '=' in pattern else '='}size={size}:rate={rate}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate={sample_rate}",
        "-t",
        str(seconds),
        *video_codec,
        *audio_codec,
        *(extra or []),
        "-f",
        container,
        url,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


GST_VIDEO = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},"
    "framerate={rate}/1,format={pixel_format} ! x264enc tune=zerolatency speed-preset=ultrafast"
    " key-int-max={gop} ! h264parse"
)
GST_AUDIO = "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=44100 ! voaacenc ! aacparse"


def gst_pipeline(
    url: str,
    *,
    sink: str = "rtmp2sink",
    size: tuple[int, int] = (320, 240),
    rate: int = 25,
    gop: int = 50,
    pixel_format: str = "I420",
) -> str:
    """A gst-launch-1.0 description of a live test pattern + tone, H.264 (x264enc) and AAC
    (voaacenc): `flvmux ! rtmp2sink|rtmpsink` to an RTMP `url`, or `mpegtsmux ! srtsink` to an
    `srt://…?streamid=…` one.

    For SRT the muxer emits 7-packet buffers (`alignment=7`, as GStreamer's SRT examples do):
    unaligned, mpegtsmux flags the buffer that carries the PAT, PMT and the start of each IDR
    as a stream header, and srtsink 1.22 drops those after connecting ("Have streamheaders,
    ignoring header buffer"), so no receiver ever gets a keyframe."""
    width, height = size
    video = GST_VIDEO.format(width=width, height=height, rate=rate, gop=gop, pixel_format=pixel_format)
    if sink == "srtsink":
        return f'{video} ! mpegtsmux alignment=7 name=mux ! srtsink uri="{url}" {GST_AUDIO} ! mux.'
    return f'{video} ! flvmux streamable=true name=mux ! {sink} location="{url}" {GST_AUDIO} ! mux.'


def gst_publish(url: str, **options) -> subprocess.Popen:
    """Starts GStreamer's gst-launch-1.0 publishing to `url` until stopped (see `gst_pipeline`):
    SIGINT ends it cleanly (`-e`: an EOS flows through the muxer and the sink closes the
    session), SIGKILL drops the connection."""
    command = ["gst-launch-1.0", "-q", "-e", *shlex.split(gst_pipeline(url, **options))]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
