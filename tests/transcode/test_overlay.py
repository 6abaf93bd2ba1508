"""The compositor on real decoded H.264 frames: inside the overlay's rectangle the overlay's
colour, outside it the source's pixels untouched, half-transparent pixels blended, whole
frame with `stretch`, and a decoder's reference frames left intact."""

from __future__ import annotations

import logging
import subprocess
import time

import av
import numpy as np
import pytest

from transcode.overlay import Compositor, OverlayError, Placement, encode_png

RED_YUV_709 = (63, 102, 240)  # BT.709 limited range of pure red (255, 0, 0)


def decoded_frames(tmp_path, size: str = "1280x720", count: int = 10, bframes: int = 2) -> list[av.VideoFrame]:
    path = tmp_path / "source.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=10",
            "-frames:v",
            str(count),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "5",
            "-bf",
            str(bframes),
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def box(width: int, height: int, rgba: tuple[int, int, int, int]) -> bytes:
    image = np.zeros((height, width, 4), np.uint8)
    image[...] = rgba
    return encode_png(image)


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Copies of the frame's Y, U and V planes."""
    return [
        np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: plane.height, : plane.width].copy()
        for plane in frame.planes
    ]


def test_an_opaque_box_covers_its_rectangle_and_nothing_else(tmp_path):
    frame = decoded_frames(tmp_path, count=1)[0]
    before = planes(frame)
    compositor = Compositor()
    compositor.set_image(1, box(200, 100, (255, 0, 0, 255)))
    compositor.place(1, Placement(x=100, y=50, width=200, height=100))
    after = planes(compositor.apply(frame))
    y, u, v = after
    assert np.all(np.abs(y[50:150, 100:300].astype(int) - RED_YUV_709[0]) <= 1)
    assert np.all(np.abs(u[25:75, 50:150].astype(int) - RED_YUV_709[1]) <= 1)
    assert np.all(np.abs(v[25:75, 50:150].astype(int) - RED_YUV_709[2]) <= 1)
    outside = np.ones(y.shape, bool)
    outside[50:150, 100:300] = False
    assert np.array_equal(y[outside], before[0][outside])
    chroma_outside = np.ones(u.shape, bool)
    chroma_outside[25:75, 50:150] = False
    assert np.array_equal(u[chroma_outside], before[1][chroma_outside])


def test_half_transparent_pixels_blend_and_transparent_ones_leave_the_source(tmp_path):
    frame = decoded_frames(tmp_path, count=1)[0]
    before = planes(frame)
    image = np.zeros((64, 256, 4), np.uint8)
    image[:, :128] = (255, 255, 255, 128)  # left half: white at 50 %
    compositor = Compositor()
    compositor.set_image(1, encode_png(image))
    compositor.place(1, Placement(x=0, y=0, width=256, height=64))
    y = planes(compositor.apply(frame))[0]
    expected = (before[0][:64, :128].astype(float) * (256 - 128) + 235 * 128) / 256
    assert np.all(np.abs(y[:64, :128] - expected) <= 1.5)
    assert np.array_equal(y[:64, 128:256], before[0][:64, 128:256])


def test_stretch_covers_the_whole_frame(tmp_path):
    frame = decoded_frames(tmp_path, "640x360", count=1)[0]
    compositor = Compositor()
    compositor.set_image(1, box(64, 36, (0, 0, 255, 255)))
    compositor.place(1, Placement(x=500, y=300, width=64, height=36, stretch=True))
    y = planes(compositor.apply(frame))[0]
    assert np.all(np.abs(y.astype(int) - 41) <= 1)  # BT.601 limited-range blue: Y 41


def test_an_odd_position_and_a_rectangle_past_the_edge_are_clipped(tmp_path):
    frame = decoded_frames(tmp_path, "640x360", count=1)[0]
    before = planes(frame)
    compositor = Compositor()
    compositor.set_image(1, box(100, 100, (255, 255, 255, 255)))
    compositor.place(1, Placement(x=591, y=301, width=100, height=100))
    y = planes(compositor.apply(frame))[0]
    assert np.all(y[301:, 591:] == 235)
    assert np.array_equal(y[:301], before[0][:301])
    assert np.array_equal(y[:, :591], before[0][:, :591])


def test_the_decoder_keeps_its_reference_pictures(tmp_path):
    """The overlay drawn on a keyframe in place must not leak into the frames predicted from
    it: the frames after it are the ones decoded without any overlay. (No B-frames: with them
    the decoder has predicted its next frames before it hands out the keyframe.)"""
    clean = [planes(frame)[0] for frame in decoded_frames(tmp_path, bframes=0)]
    compositor = Compositor()
    compositor.set_image(1, box(320, 320, (0, 255, 0, 255)))
    compositor.place(1, Placement(x=0, y=0, width=320, height=320))
    with av.open(str(tmp_path / "source.mp4")) as container:
        frames = container.decode(video=0)
        compositor.apply(next(frames))
        for index, frame in enumerate(frames, start=1):
            assert np.array_equal(planes(frame)[0], clean[index]), index


def test_a_10_bit_frame_is_converted_and_composited():
    frame = av.VideoFrame(320, 240, "yuv420p10le")
    compositor = Compositor()
    compositor.set_image(1, box(32, 32, (255, 255, 255, 255)))
    compositor.place(1, Placement(x=0, y=0, width=32, height=32))
    out = compositor.apply(frame)
    assert out.format.name == "yuv420p"
    assert np.all(planes(out)[0][:32, :32] == 235)


def test_a_source_above_1080p_is_left_alone(tmp_path):
    frame = av.VideoFrame(2560, 1440, "yuv420p")
    compositor = Compositor()
    compositor.set_image(1, box(32, 32, (255, 255, 255, 255)))
    compositor.place(1, Placement(x=0, y=0, width=32, height=32))
    assert compositor.apply(frame) is frame
    assert not Compositor.applicable(2560, 1440) and Compositor.applicable(1920, 1080)


def test_removed_and_unplaced_overlays_are_not_drawn(tmp_path):
    frame = decoded_frames(tmp_path, "640x360", count=1)[0]
    before = planes(frame)
    compositor = Compositor()
    compositor.set_image(1, box(32, 32, (255, 255, 255, 255)))  # an image, no placement yet
    assert np.array_equal(planes(compositor.apply(frame))[0], before[0])
    compositor.place(1, Placement(x=0, y=0, width=32, height=32))
    compositor.keep_only(set())
    assert not compositor.drawn


@pytest.mark.parametrize("data", [b"", b"not a png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_a_broken_image_is_a_clear_error(data):
    with pytest.raises(OverlayError):
        Compositor().set_image(1, data)


def test_in_the_background_frames_go_on_until_the_new_image_is_ready(tmp_path, caplog):
    """The worker's compositor decodes and converts on its own thread: the frames before that
    are drawn with what was ready (here nothing), the ones after with the new image; a broken
    image is a log line there, and the picture goes on."""
    frame = decoded_frames(tmp_path, "640x360", count=1)[0]
    before = planes(frame)[0]
    compositor = Compositor(background=True)
    compositor.set_image(1, box(64, 64, (255, 255, 255, 255)))
    compositor.place(1, Placement(x=0, y=0, width=64, height=64))
    compositor.set_image(2, b"not a png")
    compositor.place(2, Placement(x=100, y=100, width=64, height=64))
    caplog.set_level(logging.WARNING, logger="headwater.overlay")
    first = planes(compositor.apply(frame))[0]  # its geometry starts the conversion
    assert np.array_equal(first, before)
    deadline = time.monotonic() + 10
    while not compositor.drawn and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(compositor.drawn) == 1
    assert np.all(planes(compositor.apply(frame))[0][:64, :64] == 235)
    assert any("overlay 2: image refused" in record.message for record in caplog.records)


def test_only_the_part_with_alpha_is_converted():
    """A full-frame page with a small clock in it: the runs cover the clock, not the frame."""
    image = np.zeros((1080, 1920, 4), np.uint8)
    image[40:130, 1560:1880] = (0, 0, 0, 128)
    compositor = Compositor()
    compositor.set_image(1, encode_png(image))
    compositor.place(1, Placement(x=0, y=0, width=1920, height=1080, stretch=True))
    compositor.apply(av.VideoFrame(1920, 1080, "yuv420p"))
    (overlay,) = compositor.drawn
    luma = [run for run in overlay.runs if run.plane == 0]
    assert min(run.top for run in luma) == 40 and max(run.bottom for run in luma) == 130
    assert min(run.left for run in luma) == 1560 and max(run.right for run in luma) == 1880
