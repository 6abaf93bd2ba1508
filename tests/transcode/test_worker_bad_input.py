"""Bad sources through a real stream worker: every variant keeps playing, nothing crashes.

Each case is an FLV made by Debian's ffmpeg, fed to `python -m transcode.worker` on stdin framed as
the node feeds it (as fast as it reads), on a small 240p/160p ladder. Then every variant's
final playlist is read from disk and each segment decoded.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
from pathlib import Path

import av
import pytest

from ingest.flv import flv_header, flv_tag
from ingest.media import MediaMessage
from ingest.mpegts import PACKET_SIZE, PAT_PID, packet_header
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.worker_events import worker_run
from transcode.contract import InputData, StartInput

LADDER = [
    {"name": "240p", "width": 426, "height": 240, "video_bitrate": 250},
    {"name": "160p", "width": 284, "height": 160, "video_bitrate": 120},
]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "64k"]
PATTERN = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
TONE = ["-f", "lavfi", "-i", "sine=sample_rate=44100"]
FRAME = 1 / 25


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-nostdin", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bad-input")


def run_worker(source: bytes, out_dir: Path, ladder=LADDER, container: str = "flv") -> list[dict]:
    config = {"stream_id": 1, "out_dir": str(out_dir), "renditions": ladder, "x264_preset": "ultrafast"}
    command, stdin = worker_run(config, StartInput(container), InputData(source))  # as the node frames a pushed input
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert not [e for e in events if e["event"] == "error"]
    return events


def decoded_variants(out_dir: Path) -> dict[str, list[tuple[int, list[tuple[float, int, int]]]]]:
    """Per variant of the master: (msn, [(time, width, height)]) of every listed segment."""
    variants, _ = parse_master_playlist((out_dir / "master.m3u8").read_text())
    result = {}
    for variant in variants:
        name = variant.uri.split("/")[0]
        playlist = parse_media_playlist((out_dir / variant.uri).read_text())
        assert playlist.ended
        init = (out_dir / name / "init.mp4").read_bytes()
        result[name] = []
        for segment in playlist.segments:
            data = init + (out_dir / name / segment.uri).read_bytes()
            with av.open(io.BytesIO(data)) as container:
                frames = [
                    (float(f.pts * f.time_base), f.width, f.height)
                    for f in container.decode(container.streams.video[0])
                ]
            result[name].append((segment.msn, frames))
    return result


def assert_renditions_play(out_dir: Path, seconds: float, sizes: dict[str, tuple[int, int]]) -> dict:
    variants = decoded_variants(out_dir)
    assert set(variants) == {"origin", *sizes}
    starts = {name: {msn: frames[0][0] for msn, frames in segments} for name, segments in variants.items()}
    for name, size in sizes.items():
        frames = [f for _, decoded in variants[name] for f in decoded]
        assert len(frames) >= (seconds - 1) * 25, f"{name}: {len(frames)} frames"
        assert {(w, h) for _, w, h in frames} == {size}, name
        times = [t for t, _, _ in frames]
        assert times == sorted(times) and max(b - a for a, b in zip(times, times[1:])) < 0.5, name
        assert starts[name].keys() == starts["origin"].keys()
        for msn, start in starts[name].items():
            assert abs(start - starts["origin"][msn]) < FRAME / 2, (name, msn)
    return variants


SIZES = {"240p": (320, 240), "160p": (214, 160)}


def test_mid_stream_resolution_change(clips, tmp_path):
    """Two encodes spliced: 320x240 then 480x270, a new SPS/PPS and a repeated timestamp."""
    ffmpeg(*PATTERN, *TONE, "-t", "3", *X264, *AAC, "-f", "mpegts", str(clips / "a.ts"))
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=480x270:rate=25",
        *TONE,
        "-t",
        "3",
        *X264,
        *AAC,
        "-f",
        "mpegts",
        str(clips / "b.ts"),
    )
    ffmpeg("-i", f"concat:{clips / 'a.ts'}|{clips / 'b.ts'}", "-c", "copy", "-f", "flv", str(clips / "change.flv"))
    run_worker((clips / "change.flv").read_bytes(), tmp_path)
    variants = assert_renditions_play(tmp_path, 6, SIZES)
    origin_sizes = {(w, h) for _, decoded in variants["origin"] for _, w, h in decoded}
    assert origin_sizes == {(320, 240), (480, 270)}  # the origin passes the change through


def test_odd_frame_size(clips, tmp_path):
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=322x242:rate=25",
        *TONE,
        "-t",
        "4",
        "-vf",
        "format=yuv444p,crop=321:241",
        *X264[:-1],
        "yuv444p",
        *AAC,
        "-f",
        "flv",
        str(clips / "odd.flv"),
    )
    events = run_worker((clips / "odd.flv").read_bytes(), tmp_path)
    assert next(e for e in events if e["event"] == "started")["width"] == 321
    assert_renditions_play(tmp_path, 4, SIZES)


def test_variable_frame_rate(clips, tmp_path):
    """Every third frame interval is 1.5x longer."""
    ffmpeg(
        *PATTERN,
        *TONE,
        "-t",
        "5",
        "-vf",
        "setpts='(N+floor(N/3)*0.5)/25/TB'",
        "-fps_mode",
        "vfr",
        *X264,
        *AAC,
        "-f",
        "flv",
        str(clips / "vfr.flv"),
    )
    run_worker((clips / "vfr.flv").read_bytes(), tmp_path)
    variants = decoded_variants(tmp_path)
    origin = [t for _, decoded in variants["origin"] for t, _, _ in decoded]
    for name in SIZES:
        times = [t for _, decoded in variants[name] for t, _, _ in decoded]
        assert times == origin, f"{name} does not keep the source's frame times"


def test_timestamp_jump_forward(clips, tmp_path):
    """Both streams leap 10 s ahead at t=3: the output continues without a hole."""
    shift = "PTS+if(gte(T,3),10/TB,0)"
    ffmpeg(
        "-t",
        "6",
        *PATTERN,
        "-t",
        "6",
        *TONE,
        "-vf",
        f"setpts='{shift}'",
        "-af",
        f"asetpts='{shift}'",
        *X264,
        *AAC,
        "-f",
        "flv",
        str(clips / "jump.flv"),
    )
    events = run_worker((clips / "jump.flv").read_bytes(), tmp_path)
    variants = assert_renditions_play(tmp_path, 6, SIZES)
    origin = [t for _, decoded in variants["origin"] for t, _, _ in decoded]
    assert max(b - a for a, b in zip(origin, origin[1:])) < 0.5
    assert not [e for e in events if e["event"] == "segment" and e["duration"] > 4]


def test_rtmp_32_bit_timestamp_wrap(clips, tmp_path):
    """The node writes FLV tags with the clock modulo 2^32, as RTMP does: start 2 s before it wraps."""
    ffmpeg(*PATTERN, *TONE, "-t", "5", *X264, *AAC, "-f", "flv", str(clips / "plain.flv"))
    wrapped = rewrite_timestamps((clips / "plain.flv").read_bytes(), (1 << 32) - 2000)
    run_worker(wrapped, tmp_path)
    assert_renditions_play(tmp_path, 5, SIZES)


def test_gstreamer_flv_with_a_stream_appearing_mid_input(clips, tmp_path):
    """GStreamer's flvmux repeats onMetaData at later timestamps; FFmpeg's FLV demuxer makes a
    subtitle stream of the first repeat, one PyAV did not see at open: its demux raised
    IndexError at the end of the input and the worker died."""
    clip = clips / "gstreamer.flv"
    subprocess.run(
        [
            "gst-launch-1.0",
            "-q",
            "-e",
            *shlex.split(
                "videotestsrc num-buffers=100 ! video/x-raw,width=320,height=240,framerate=25/1,format=I420"
                " ! x264enc speed-preset=ultrafast key-int-max=25 ! h264parse ! flvmux streamable=true name=mux"
                f" ! filesink location={clip} audiotestsrc num-buffers=180 ! voaacenc ! aacparse ! mux."
            ),
        ],
        check=True,
        timeout=60,
    )
    streams = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", str(clip)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert streams == ["video", "audio", "subtitle"]  # what made the worker trip
    run_worker(clip.read_bytes(), tmp_path)
    assert_renditions_play(tmp_path, 4, SIZES)


def test_mpegts_stream_added_mid_input(clips, tmp_path):
    """An SRT publisher adds a second audio track after 3 s (a new PID in a new PMT): PyAV's
    demux raised IndexError at the end of such an input too."""
    ffmpeg(*PATTERN, *TONE, "-t", "3", *X264, *AAC, "-f", "mpegts", str(clips / "two.ts"))
    ffmpeg(
        *PATTERN,
        *TONE,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=880",
        "-t",
        "3",
        "-map",
        "0",
        "-map",
        "1",
        "-map",
        "2",
        *X264,
        *AAC,
        "-output_ts_offset",
        "3",
        "-f",
        "mpegts",
        str(clips / "three.ts"),
    )
    source = (clips / "two.ts").read_bytes() + (clips / "three.ts").read_bytes()
    run_worker(source, tmp_path, container="mpegts")
    assert_renditions_play(tmp_path, 6, SIZES)


def test_mpegts_input_whose_first_probe_finds_no_keyframe(clips, tmp_path):
    """An encoder that flags no random access point is started by the node at any PAT: here
    mid-GOP, 2.4 s before the next keyframe (a 4 s GOP), more than one probe's worth of media.
    The worker skipped the whole input ("ended before its streams were known") and stayed dark.

    Each new probe starts where the last stopped, so a keyframe split between two probes is
    lost to both: the stream starts at the first keyframe a probe sees whole."""
    ffmpeg(
        *PATTERN,
        *TONE,
        "-t",
        "16",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "100",
        "-keyint_min",
        "100",
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        *AAC,
        "-f",
        "mpegts",
        str(clips / "long_gop.ts"),
    )
    whole = (clips / "long_gop.ts").read_bytes()
    start = len(whole) // 10 // PACKET_SIZE * PACKET_SIZE
    while packet_header(whole[start : start + PACKET_SIZE]).pid != PAT_PID:
        start += PACKET_SIZE
    events = run_worker(whole[start:], tmp_path, container="mpegts")
    assert next(e for e in events if e["event"] == "started")["width"] == 320
    assert_renditions_play(tmp_path, 4, SIZES)


def test_video_only_source(clips, tmp_path):
    ffmpeg(*PATTERN, "-t", "4", *X264, "-f", "flv", str(clips / "video.flv"))
    events = run_worker((clips / "video.flv").read_bytes(), tmp_path)
    assert next(e for e in events if e["event"] == "started")["renditions"] == ["origin", "240p", "160p"]
    assert_renditions_play(tmp_path, 4, SIZES)
    assert "mp4a" not in (tmp_path / "master.m3u8").read_text()


def test_audio_only_source_is_packaged_without_renditions(clips, tmp_path):
    ffmpeg(*TONE, "-t", "4", *AAC, "-f", "flv", str(clips / "audio.flv"))
    events = run_worker((clips / "audio.flv").read_bytes(), tmp_path)
    assert next(e for e in events if e["event"] == "started")["renditions"] == ["origin"]
    variants, _ = parse_master_playlist((tmp_path / "master.m3u8").read_text())
    assert [v.uri for v in variants] == ["audio/index.m3u8"]
    assert parse_media_playlist((tmp_path / "audio/index.m3u8").read_text()).segments


def rewrite_timestamps(flv: bytes, offset_ms: int) -> bytes:
    """The same FLV with every tag's timestamp moved by `offset_ms`, modulo 2^32."""
    out = [flv_header()]
    position = 13
    while position + 11 <= len(flv):
        kind = flv[position]
        size = int.from_bytes(flv[position + 1 : position + 4], "big")
        timestamp = int.from_bytes(flv[position + 4 : position + 7], "big") | (flv[position + 7] << 24)
        payload = flv[position + 11 : position + 11 + size]
        stamp = timestamp if kind == 18 else timestamp + offset_ms
        out.append(flv_tag(MediaMessage(kind, stamp, payload)))
        position += 11 + size + 4
    return b"".join(out)
