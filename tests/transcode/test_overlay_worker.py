"""html_overlay through a real worker: an FLV source (what RTMP brings) with overlay images
and moves sent as the node sends them; the origin is re-encoded at the source's size with the
box in it, the rendition is scaled from the composited picture, the picture outside the box is
the source's, a move mid-stream moves the box, a source above 1080p is left alone, and an
origin recording holds the source's very pictures, without the box."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import subprocess

import av
import numpy as np
import pytest

from packager.recording_layout import read_recording
from packager.resume import ResumePoint
from tests.support.hls import parse_media_playlist
from tests.support.size_change import init_sizes, init_sps, size_changing_clip
from tests.support.worker_events import plain
from transcode.contract import (
    Command,
    InputData,
    KeepOverlays,
    SetOverlay,
    StartInput,
    StartRecording,
    WorkerConfig,
    encode_command,
)
from transcode.ladder import Rendition, plan
from transcode.overlay import encode_png
from transcode.pipeline import with_composited_origin
from transcode.worker import run

RED_601 = (81, 90, 240)  # Y, U, V of rgb(255, 0, 0), BT.601 limited range (sources under 720 lines)
FIRST = (96, 64)  # the box's first position (x, y), then MOVED
MOVED = (400, 200)
BOX = (128, 64)


def flv_clip(path, size: str, seconds: int) -> bytes:
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-f",
            "flv",
            str(path),
        ],
        check=True,
    )
    return path.read_bytes()


def red_box(x: int, y: int, png: bool = True) -> SetOverlay:
    image = np.zeros((BOX[1], BOX[0], 4), np.uint8)
    image[...] = (255, 0, 0, 255)
    data = base64.b64encode(encode_png(image)).decode() if png else ""
    return SetOverlay(overlay_id=5, x=x, y=y, width=BOX[0], height=BOX[1], png=data)


def run_worker(directory, config: WorkerConfig, commands: list[Command]) -> list[dict]:
    records = directory / "records"
    records.write_bytes(b"".join(encode_command(command) for command in commands))
    events: list[dict] = []
    fd = os.open(records, os.O_RDONLY)
    try:
        run(config, lambda event: events.append(plain(event)), source_fd=fd)
    finally:
        os.close(fd)
    return events


def frames(out, rendition: str) -> list[np.ndarray]:
    """Every frame of a CMAF rendition as (Y, U, V) planes."""
    playlist = parse_media_playlist((out / rendition / "index.m3u8").read_text())
    pictures = []
    for segment in playlist.segments:
        data = (out / rendition / segment.map_uri).read_bytes() + (out / rendition / segment.uri).read_bytes()
        with av.open(io.BytesIO(data)) as container:
            pictures.extend(
                [
                    np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[: p.height, : p.width].copy()
                    for p in frame.reformat(format="yuv420p").planes
                ]
                for frame in container.decode(video=0)
            )
    return pictures


def luma(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: plane.height, : plane.width].copy()


def source_frames(path) -> list[np.ndarray]:
    """The source's luma planes, frame by frame."""
    with av.open(str(path)) as container:
        return [luma(frame) for frame in container.decode(video=0)]


def is_red(planes, x: int, y: int, w: int, h: int, margin: int = 4) -> bool:
    """The box's inside (less a margin for the encoder's blur) is red."""
    y_plane, u_plane, v_plane = planes
    inside = y_plane[y + margin : y + h - margin, x + margin : x + w - margin]
    u = u_plane[(y + margin) // 2 : (y + h - margin) // 2, (x + margin) // 2 : (x + w - margin) // 2]
    v = v_plane[(y + margin) // 2 : (y + h - margin) // 2, (x + margin) // 2 : (x + w - margin) // 2]
    return (
        abs(float(inside.mean()) - RED_601[0]) < 6
        and abs(float(u.mean()) - RED_601[1]) < 6
        and abs(float(v.mean()) - RED_601[2]) < 6
    )


@pytest.fixture(scope="module")
def overlaid_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("overlay-worker")
    clip = flv_clip(directory / "clip.flv", "640x360", seconds=6)
    half = len(clip) // 2
    out = directory / "out"
    config = WorkerConfig(
        stream_id=1,
        out_dir=str(out),
        x264_preset="ultrafast",
        overlays=True,
        renditions=[Rendition("240p", 426, 240, 400)],
    )
    events = run_worker(
        directory,
        config,
        [
            red_box(*FIRST),
            StartInput("flv"),
            InputData(clip[:half]),
            red_box(*MOVED, png=False),
            InputData(clip[half:]),  # moved: the image stays
        ],
    )
    return out, events, source_frames(directory / "clip.flv")


def test_the_origin_is_reencoded_at_the_source_size_with_the_box_in_it(overlaid_run):
    out, events, source = overlaid_run
    started = next(e for e in events if e["event"] == "started")
    assert started["renditions"] == ["origin", "240p"]
    origin = frames(out, "origin")
    assert len(origin) >= 140 and origin[0][0].shape == (360, 640)
    assert is_red(origin[10], *FIRST, *BOX)  # the first frames pass while the image is converted
    # outside the box: the source's picture (re-encoded: close, not equal)
    outside = np.ones((360, 640), bool)
    outside[FIRST[1] - 8 : FIRST[1] + BOX[1] + 8, FIRST[0] - 8 : FIRST[0] + BOX[0] + 8] = False
    difference = np.abs(origin[10][0].astype(int) - source[10].astype(int))[outside]
    assert difference.mean() < 2, difference.mean()


def test_a_move_mid_stream_moves_the_box_and_keeps_the_image(overlaid_run):
    out, _, _ = overlaid_run
    origin = frames(out, "origin")
    assert is_red(origin[-1], *MOVED, *BOX)
    assert not is_red(origin[-1], *FIRST, *BOX)
    moved_at = next(index for index, planes in enumerate(origin) if is_red(planes, *MOVED, *BOX))
    assert 20 < moved_at < len(origin) - 20  # in the middle, where the node sent it


def test_the_rendition_is_scaled_from_the_composited_picture(overlaid_run):
    out, _, _ = overlaid_run
    first = frames(out, "240p")[10]
    assert first[0].shape == (240, 426)
    scale = 240 / 360
    assert is_red(first, round(FIRST[0] * scale), round(FIRST[1] * scale), round(BOX[0] * scale), round(BOX[1] * scale))


def test_overlays_removed_leave_the_source_picture(tmp_path):
    clip = flv_clip(tmp_path / "clip.flv", "320x180", seconds=2)
    out = tmp_path / "out"
    config = WorkerConfig(stream_id=1, out_dir=str(out), x264_preset="ultrafast", overlays=True)
    run_worker(tmp_path, config, [red_box(16, 16), KeepOverlays(overlay_ids=[]), StartInput("flv"), InputData(clip)])
    origin = frames(out, "origin")
    assert not any(is_red(planes, 16, 16, *BOX) for planes in origin)


def test_a_source_above_1080p_is_packaged_as_it_is(tmp_path):
    clip = flv_clip(tmp_path / "clip.flv", "2048x1152", seconds=1)
    config = WorkerConfig(stream_id=1, out_dir=str(tmp_path / "out"), overlays=True)
    events = run_worker(tmp_path, config, [red_box(16, 16), StartInput("flv"), InputData(clip)])
    started = next(e for e in events if e["event"] == "started")
    assert started["source_warning"] == "html_overlay: the source is 2048x1152, above 1920x1080; overlays not applied"
    origin = (tmp_path / "out/origin/init.mp4").read_bytes()
    first = source_frames(tmp_path / "clip.flv")[0]
    with av.open(io.BytesIO(origin + next((tmp_path / "out/origin").glob("*.m4s")).read_bytes())) as container:
        picture = luma(next(container.decode(video=0)))
    assert np.array_equal(picture, first)  # passthrough: the very same picture


def test_a_rung_of_the_source_size_becomes_the_composited_origin(tmp_path):
    """One encode of the composited source-size picture, not two: the rung's place and bitrate."""
    flv_clip(tmp_path / "clip.flv", "640x360", seconds=1)
    rungs = [Rendition("360p", 640, 360, 900), Rendition("240p", 426, 240, 400)]
    capped = [Rendition("360p", 640, 360, 900, max_frame_rate=15), Rendition("240p", 426, 240, 400)]
    with av.open(str(tmp_path / "clip.flv")) as container:
        video = container.streams.video[0]
        merged = with_composited_origin(plan(rungs, 640, 360), video)
        kept = with_composited_origin(plan(capped, 640, 360), video)
    assert [(r.name, r.width, r.height, r.rendition.video_bitrate) for r in merged] == [
        ("origin", 640, 360, 900),
        ("240p", 426, 240, 400),
    ]
    assert [r.name for r in kept] == ["origin", "360p", "240p"]  # a lower frame rate is another picture


def test_an_origin_recording_is_the_source_as_received(tmp_path):
    """record_type=origin beside an origin re-encoded with the box: the recording's frames are
    the source's own (passthrough: the same pictures, bit for bit), from its first frame to its
    last; the live origin shows the box; nothing of the recorder's track reaches the node or a
    playlist."""
    clip = flv_clip(tmp_path / "clip.flv", "640x360", seconds=5)
    out, recorded = tmp_path / "out", tmp_path / "recording"
    config = WorkerConfig(stream_id=1, out_dir=str(out), x264_preset="ultrafast", overlays=True)
    record = StartRecording(key="k", directory=str(recorded), record_type="origin")
    events = run_worker(tmp_path, config, [red_box(*FIRST), record, StartInput("flv"), InputData(clip)])
    assert is_red(frames(out, "origin")[10], *FIRST, *BOX)  # the viewers' origin has the box
    video = read_recording(recorded).tracks["video"]
    assert len({segment.init for segment in video}) == 1
    data = (recorded / video[0].init).read_bytes() + b"".join((recorded / s.file).read_bytes()[: s.size] for s in video)
    with av.open(io.BytesIO(data)) as container:
        pictures = [luma(frame) for frame in container.decode(video=0)]
    source = source_frames(tmp_path / "clip.flv")
    assert len(pictures) == len(source) == 125
    assert all(np.array_equal(picture, original) for picture, original in zip(pictures, source, strict=True))
    # the live output's segments and the recording's are cut at the same source keyframes
    live = [e for e in events if e["event"] == "segment" and e["rendition"] == "origin"]
    assert len(live) == len(video) and all(s.complete for s in video)
    assert not any(e.get("rendition") == "source" for e in events)  # the node never hears of it
    listed = (out / "master.m3u8").read_text() + (out / "index.mpd").read_text()
    assert "source" not in listed and not (out / "master_mpegts.m3u8").read_text().count("source")


def recorded_runs(directory) -> list[list[np.ndarray]]:
    """The recording's video decoded run by run (each run with its own init): luma planes."""
    runs: list[list] = []
    for segment in read_recording(directory).tracks["video"]:
        if not runs or segment.discontinuity:
            runs.append([(directory / segment.init).read_bytes()])
        runs[-1].append((directory / segment.file).read_bytes()[: segment.size])
    decoded = []
    for run_bytes in runs:
        with av.open(io.BytesIO(b"".join(run_bytes))) as container:
            decoded.append([luma(frame) for frame in container.decode(video=0)])
    return decoded


def test_a_source_that_changes_size_is_recorded_as_it_is_after_a_new_init(tmp_path):
    """The source goes from 640x360 to 320x180 mid-stream: the recording goes on after a
    discontinuity with a new init at the new size and the source's pictures; the live origin
    keeps its encoded size, and every listed track marks the change at the same segment."""
    clip = size_changing_clip(tmp_path, container="flv")
    out, recorded = tmp_path / "out", tmp_path / "recording"
    config = WorkerConfig(stream_id=1, out_dir=str(out), x264_preset="ultrafast", overlays=True)
    record = StartRecording(key="k", directory=str(recorded), record_type="origin")
    run_worker(tmp_path, config, [red_box(16, 16), record, StartInput("flv"), InputData(clip.read_bytes())])
    first, second = recorded_runs(recorded)
    source = source_frames(clip)
    assert [p.shape for p in (first[0], second[0])] == [(360, 640), (180, 320)]
    assert len(first) + len(second) == len(source) == 200
    assert all(np.array_equal(a, b) for a, b in zip(first + second, source, strict=True))
    inits = sorted({s.init for s in read_recording(recorded).tracks["video"]})
    assert [(init_sps((recorded / i).read_bytes()).width) for i in inits] == [640, 320]
    for rendition in ("origin", "audio"):
        playlist = parse_media_playlist((out / rendition / "index.m3u8").read_text())
        assert [s.msn for s in playlist.segments if s.discontinuity] == [2], rendition
    assert frames(out, "origin")[-1][0].shape == (360, 640)


def test_a_source_switch_continues_the_origin_recording_after_a_discontinuity(tmp_path):
    """Main, then backup (another input): the recording holds both sources' pictures as they
    were sent, the second after a discontinuity and a new init."""
    main = flv_clip(tmp_path / "main.flv", "640x360", seconds=3)
    backup = flv_clip(tmp_path / "backup.flv", "320x180", seconds=3)
    out, recorded = tmp_path / "out", tmp_path / "recording"
    config = WorkerConfig(stream_id=1, out_dir=str(out), x264_preset="ultrafast", overlays=True)
    record = StartRecording(key="k", directory=str(recorded), record_type="origin")
    commands = [red_box(16, 16), record, StartInput("flv"), InputData(main), StartInput("flv"), InputData(backup)]
    run_worker(tmp_path, config, commands)
    first, second = recorded_runs(recorded)
    assert all(np.array_equal(a, b) for a, b in zip(first, source_frames(tmp_path / "main.flv"), strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(second, source_frames(tmp_path / "backup.flv"), strict=True))
    # the viewers' origin keeps its size: the box drawn on the 320x180 backup is scaled with it,
    # and its new init tells its own encoder's size and SPS, not the backup's
    assert is_red(frames(out, "origin")[-10], 32, 32, 2 * BOX[0], 2 * BOX[1])
    init = (out / "origin/init_1.mp4").read_bytes()
    assert init_sizes(init) == ((640, 360), (640, 360)) and init_sps(init).width == 640


def test_a_new_worker_continues_the_origin_recording(tmp_path):
    """The worker ends (a crash, an html_overlay switch) and the next one of the stream goes on
    with the same recording (`continues`): a second run, after a discontinuity, of the source's
    own pictures."""
    first_clip = flv_clip(tmp_path / "first.flv", "640x360", seconds=2)
    second_clip = flv_clip(tmp_path / "second.flv", "320x180", seconds=2)  # told apart
    out, recorded = tmp_path / "out", tmp_path / "recording"
    config = WorkerConfig(stream_id=1, out_dir=str(out), x264_preset="ultrafast", overlays=True)
    record = StartRecording(key="k", directory=str(recorded), record_type="origin")
    events = run_worker(tmp_path, config, [red_box(16, 16), record, StartInput("flv"), InputData(first_clip)])
    last = max(e["msn"] for e in events if e["event"] == "segment")
    following = dataclasses.replace(
        config, resume=ResumePoint(msn=last + 1, discontinuity_sequence=1, init_generation=1)
    )
    again = dataclasses.replace(record, continues=True, recorded=2.0)
    run_worker(tmp_path, following, [red_box(16, 16), again, StartInput("flv"), InputData(second_clip)])
    first, second = recorded_runs(recorded)
    assert all(np.array_equal(a, b) for a, b in zip(first, source_frames(tmp_path / "first.flv"), strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(second, source_frames(tmp_path / "second.flv"), strict=True))
