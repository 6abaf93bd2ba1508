"""The screenshot job on real H.264: one JPEG per interval from the first keyframe due, at
most 1080 px wide with the source's aspect, replacing the last one."""

from __future__ import annotations

import subprocess

import av
import pytest

from transcode.screenshots import MAX_WIDTH, ScreenshotJob, screenshot_size


def h264_file(
    path, size: str, seconds: int = 3, gop: int = 10, source: str = "testsrc2=", filters: list[str] = ()
) -> str:
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"{source}size={size}:rate=10",
            "-t",
            str(seconds),
            *filters,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            str(gop),
            "-bf",
            "2",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return str(path)


def run_job(source: str, target, interval: float) -> list[bytes]:
    """Feeds every packet of `source` to a job; returns each distinct JPEG the job left at
    `target` along the way."""
    shots: list[bytes] = []
    with av.open(source) as container:
        video = container.streams.video[0]
        job = ScreenshotJob(video, target, interval)
        for packet in container.demux(video):
            if packet.size == 0:
                continue
            job.on_packet(packet)
            if target.exists() and (not shots or target.read_bytes() != shots[-1]):
                shots.append(target.read_bytes())
        job.close()
    return shots


def picture(jpeg: bytes) -> av.VideoFrame:
    with av.open(__import__("io").BytesIO(jpeg)) as container:
        return next(container.decode(video=0))


def test_one_jpeg_per_interval_from_keyframes(tmp_path):
    source = h264_file(tmp_path / "in.mp4", "640x360", seconds=4, gop=10)
    target = tmp_path / "shots" / "7.jpg"
    shots = run_job(source, target, interval=1.0)  # a keyframe every second
    assert len(shots) == 4, len(shots)
    assert all(shot[:2] == b"\xff\xd8" for shot in shots)
    first = picture(shots[0])
    assert (first.width, first.height) == (640, 360)


def test_the_interval_waits_for_the_next_keyframe(tmp_path):
    source = h264_file(tmp_path / "in.mp4", "320x240", seconds=4, gop=20)  # a keyframe every 2 s
    shots = run_job(source, tmp_path / "7.jpg", interval=0.5)
    assert len(shots) == 2, len(shots)  # due every 0.5 s, but only keyframes are decoded


def test_wide_sources_are_scaled_to_1080_with_their_aspect(tmp_path):
    source = h264_file(tmp_path / "in.mp4", "1920x1080", seconds=1)
    shots = run_job(source, tmp_path / "7.jpg", interval=10.0)
    shot = picture(shots[0])
    assert (shot.width, shot.height) == (1080, 608)


def test_the_jpeg_shows_the_keyframe(tmp_path):
    """A gray source brightening over time: the JPEG's luma is the keyframe's."""
    source = h264_file(
        tmp_path / "ramp.mp4",
        "320x240",
        seconds=2,
        gop=10,
        source="color=c=gray:",
        filters=["-vf", "eq=brightness='t/4-0.25':eval=frame"],
    )
    shots = run_job(source, tmp_path / "7.jpg", interval=1.0)
    assert len(shots) == 2
    with av.open(source) as container:
        keyframes = [f for f in container.decode(video=0) if f.key_frame]
    for shot, keyframe in zip(shots, keyframes):
        expected = keyframe.to_ndarray(format="gray").mean()
        assert abs(picture(shot).to_ndarray(format="gray").mean() - expected) < 3


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1920, 1080), (1080, 608)),
        ((3840, 2160), (1080, 608)),
        ((1280, 720), (1080, 608)),
        ((720, 1280), (720, 1280)),
        ((640, 480), (640, 480)),
        ((1081, 1081), (1080, 1080)),
    ],
)
def test_screenshot_size(size, expected):
    assert screenshot_size(*size) == expected
    assert screenshot_size(*size)[0] <= MAX_WIDTH


def test_the_grid_starts_a_phase_after_the_first_shot(tmp_path):
    """Streams started together spread their decodes: the first keyframe is taken at once, the
    next ones `phase` of an interval later, then one per interval."""
    source = h264_file(tmp_path / "in.mp4", "320x240", seconds=5, gop=5)  # a keyframe every 0.5 s
    taken: list[float] = []
    with av.open(source) as container:
        video = container.streams.video[0]
        job = ScreenshotJob(video, tmp_path / "7.jpg", 2.0, phase=0.25, later=lambda _path, _make: None)
        for packet in container.demux(video):
            if packet.size and packet.is_keyframe:
                before = job.due
                job.on_packet(packet)
                if job.due != before:
                    taken.append(float(packet.pts * packet.time_base))
    assert [round(t - taken[0], 2) for t in taken] == [0.0, 0.5, 2.5, 4.5]


def test_the_file_thread_makes_and_writes_the_jpeg(tmp_path):
    from packager.file_thread import FileThread

    source = h264_file(tmp_path / "in.mp4", "320x240", seconds=1)
    files = FileThread()
    target = tmp_path / "7.jpg"
    with av.open(source) as container:
        video = container.streams.video[0]
        job = ScreenshotJob(video, target, 10.0, later=files.write_made)
        for packet in container.demux(video):
            if packet.size:
                job.on_packet(packet)
    files.close()
    assert picture(target.read_bytes()).width == 320
