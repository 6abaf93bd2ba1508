"""Burning HTML overlays into the picture: RGBA images alpha-composited onto yuv420p frames.

An overlay image (a PNG with alpha, as the node's renderer captures it) is converted once,
when it arrives, into what the per-frame blend needs: for every tile run that has any alpha,
premultiplied Y, U and V values and the inverse alpha, in the frame's colour space. Per frame
only those runs are touched, in YUV (an RGB round trip per frame costs 20–80 ms at 1080p;
this costs well under 1.5 ms for a 600×200 overlay, `python -m bench.overlay_cost`).
Fully opaque runs are copied, fully transparent tiles skipped.

The blend is integer arithmetic with alpha on 0..256: `out = (frame × (256 − a) + premult +
128) >> 8`, where `premult = a × value` is computed once; it fits in uint16.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt

log = logging.getLogger("headwater.overlay")

TILE_WIDTH = 128  # luma pixels; tiles of a row with the same state merge into one run
TILE_HEIGHT = 32
FORMATS = ("yuv420p", "yuvj420p")
MAX_SOURCE = (1920, 1080)  # Gcore applies overlays to sources up to 1080p

Pixels = npt.NDArray[np.uint8]
Wide = npt.NDArray[np.uint16]
Geometry = tuple[int, int, str]  # a frame's width, height and pixel format (after conversion)


class OverlayError(ValueError):
    """An overlay image that cannot be used (not a PNG, empty)."""


@dataclass(frozen=True)
class Placement:
    """Where an overlay goes: its rectangle in frame pixels, or the whole frame (`stretch`)."""

    x: int
    y: int
    width: int
    height: int
    stretch: bool = False


def decode_png(data: bytes) -> Pixels:
    """A PNG's pixels as an (h, w, 4) RGBA array."""
    try:
        with av.open(io.BytesIO(data), "r", format="png_pipe") as container:
            frame = next(container.decode(video=0))
            return np.asarray(frame.to_ndarray(format="rgba"), np.uint8)
    except (av.error.FFmpegError, StopIteration, ValueError) as error:
        raise OverlayError(f"not a readable PNG image: {error}") from None


def encode_png(rgba: Pixels) -> bytes:
    """An (h, w, 4) RGBA array as PNG bytes (the renderer's captures are PNGs; tests and the
    benchmark make theirs with this)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "rgba"
    return b"".join(bytes(packet) for packet in [*encoder.encode(frame), *encoder.encode(None)])


def resize_rgba(rgba: Pixels, width: int, height: int) -> Pixels:
    """`rgba` scaled to width × height (once per image, never per frame)."""
    if rgba.shape[1] == width and rgba.shape[0] == height:
        return rgba
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
    resized = frame.reformat(width=width, height=height, format="rgba", interpolation="BICUBIC")
    return np.asarray(resized.to_ndarray(), np.uint8)


@dataclass(frozen=True)
class _Run:
    """A horizontal run of tiles in one plane: copy `value` (opaque) or blend."""

    plane: int
    top: int
    bottom: int
    left: int
    right: int
    value: Pixels | None = None  # opaque: the plane's pixels
    inverse: Wide | None = None  # blend: 256 − alpha
    premultiplied: Wide | None = None  # blend: alpha × value + 128


class PreparedOverlay:
    """One overlay image converted for frames of one geometry (size, pixel format): BT.709
    from 720 lines up, else BT.601; full range for yuvj420p."""

    def __init__(self, rgba: Pixels, placement: Placement, geometry: Geometry) -> None:
        self.geometry = geometry
        self.runs: list[_Run] = []
        frame_width, frame_height, pixel_format = geometry
        bt709, full_range = frame_height >= 720, pixel_format == "yuvj420p"
        if placement.stretch:
            left, top, width, height = 0, 0, frame_width, frame_height
        else:
            left, top, width, height = placement.x, placement.y, placement.width, placement.height
        if width <= 0 or height <= 0:
            return
        image = resize_rgba(rgba, width, height)
        # align to the chroma grid: a transparent column/row in front of an odd position
        pad_left, pad_top = left % 2, top % 2
        image = np.pad(image, ((pad_top, (height + pad_top) % 2), (pad_left, (width + pad_left) % 2), (0, 0)))
        left, top = left - pad_left, top - pad_top
        # clip to the frame (frame size rounded down to even: the chroma planes' grid)
        right = min(left + image.shape[1], frame_width - frame_width % 2)
        bottom = min(top + image.shape[0], frame_height - frame_height % 2)
        crop_left, crop_top = max(0, -left), max(0, -top)
        left, top = max(0, left), max(0, top)
        if right <= left or bottom <= top:
            return
        image = image[crop_top : crop_top + bottom - top, crop_left : crop_left + right - left]
        # only the part with alpha is converted (a clock on a full-frame page is a small part)
        rows = np.flatnonzero(image[..., 3].any(axis=1))
        cols = np.flatnonzero(image[..., 3].any(axis=0))
        if not len(rows):
            return
        r0, r1 = rows[0] & ~1, min(image.shape[0], (rows[-1] + 2) & ~1)
        c0, c1 = cols[0] & ~1, min(image.shape[1], (cols[-1] + 2) & ~1)
        self._prepare(image[r0:r1, c0:c1], left + int(c0), top + int(r0), bt709, full_range)

    def _prepare(self, image: Pixels, left: int, top: int, bt709: bool, full_range: bool) -> None:
        alpha = image[..., 3].astype(np.float32) / 255.0
        rgb = image[..., :3].astype(np.float32) * alpha[..., None]  # premultiplied, 0..255
        y, u, v = _yuv_matrix(bt709, full_range)
        luma = rgb @ y[:3] + y[3] * alpha
        # chroma: premultiplied RGB and alpha averaged over each 2×2 block (linear, so exact)
        rgb2 = _average_2x2(rgb)
        alpha2 = _average_2x2(alpha)
        planes = [
            (luma, alpha, left, top),
            (rgb2 @ u[:3] + u[3] * alpha2, alpha2, left // 2, top // 2),
            (rgb2 @ v[:3] + v[3] * alpha2, alpha2, left // 2, top // 2),
        ]
        for index, (premultiplied, plane_alpha, plane_left, plane_top) in enumerate(planes):
            tile_w, tile_h = (TILE_WIDTH, TILE_HEIGHT) if index == 0 else (TILE_WIDTH // 2, TILE_HEIGHT // 2)
            self.runs.extend(_runs(index, premultiplied, plane_alpha, plane_left, plane_top, tile_w, tile_h))

    def apply(self, planes: list[Pixels]) -> None:
        """Blend into the frame's planes (writable uint8 views)."""
        for run in self.runs:
            region = planes[run.plane][run.top : run.bottom, run.left : run.right]
            if run.value is not None:
                region[...] = run.value
                continue
            assert run.inverse is not None and run.premultiplied is not None
            blended = region.astype(np.uint16)
            blended *= run.inverse
            blended += run.premultiplied
            blended >>= 8
            region[...] = blended


def _yuv_matrix(bt709: bool, full_range: bool) -> tuple[npt.NDArray[np.float32], ...]:
    """Rows (r, g, b, offset) giving Y, U, V from RGB 0..255."""
    kr, kb = (0.2126, 0.0722) if bt709 else (0.299, 0.114)
    kg = 1.0 - kr - kb
    luma_scale, chroma_scale, luma_offset = (1.0, 1.0, 0.0) if full_range else (219 / 255, 224 / 255, 16.0)
    y = np.array([kr, kg, kb, 0.0]) * luma_scale
    y[3] = luma_offset
    u = np.array([-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5, 0.0]) * chroma_scale
    v = np.array([0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr)), 0.0]) * chroma_scale
    u[3] = v[3] = 128.0
    return y.astype(np.float32), u.astype(np.float32), v.astype(np.float32)


def _average_2x2(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    h, w = values.shape[0] // 2, values.shape[1] // 2
    blocks = values[: h * 2, : w * 2].reshape(h, 2, w, 2, *values.shape[2:])
    averaged: npt.NDArray[np.float32] = blocks.mean(axis=(1, 3))
    return averaged


def _runs(
    plane: int,
    premultiplied: npt.NDArray[np.float32],
    alpha: npt.NDArray[np.float32],
    left: int,
    top: int,
    tile_w: int,
    tile_h: int,
) -> list[_Run]:
    """The plane's tiles with alpha, merged into runs along each tile row."""
    a256 = np.rint(alpha * 256.0).astype(np.uint16)
    runs: list[_Run] = []
    height, width = a256.shape
    for row in range(0, height, tile_h):
        states = []
        for col in range(0, width, tile_w):
            tile = a256[row : row + tile_h, col : col + tile_w]
            states.append(0 if not tile.any() else 1 if (tile == 256).all() else 2)
        col_index = 0
        while col_index < len(states):
            state = states[col_index]
            end = col_index
            while end + 1 < len(states) and states[end + 1] == state:
                end += 1
            if state:
                c0, c1 = col_index * tile_w, min(width, (end + 1) * tile_w)
                r1 = min(height, row + tile_h)
                box = (slice(row, r1), slice(c0, c1))
                bounds = (plane, top + row, top + r1, left + c0, left + c1)
                if state == 1:
                    value = np.clip(np.rint(premultiplied[box]), 0, 255).astype(np.uint8)
                    runs.append(_Run(*bounds, value=value))
                else:
                    inverse = (256 - a256[box]).astype(np.uint16)
                    premult = np.clip(np.rint(premultiplied[box] * 256.0), 0, 65280).astype(np.uint16)
                    runs.append(_Run(*bounds, inverse=inverse, premultiplied=premult + 128))
            col_index = end + 1
    return runs


Job = tuple[str, int, Any]


class Compositor:
    """A stream's overlays, drawn onto each decoded frame in the order they were set.

    `set_image` takes a new capture (PNG bytes), `place` a placement, `remove`/`keep_only` take
    overlays out. Decoding an image and converting it for the frames' size (5–60 ms and up to
    tens of ms for a full-frame page, once a second for a clock) is done on a thread of its own
    when `background` (the worker): the frames go on with the overlays as they were until the
    new ones are ready, then `apply` picks them up at once (one reference swapped). Without
    `background` it is done in the call (tests, benchmarks). Frames not in yuv420p are
    converted first (one kept reformatter); sources larger than MAX_SOURCE are left alone
    (`applicable`).
    """

    def __init__(self, *, background: bool = False) -> None:
        self.reformatter = av.video.reformatter.VideoReformatter()
        self.geometry: Geometry | None = None  # of the frames `apply` last saw
        self.drawn: tuple[PreparedOverlay, ...] = ()  # what `apply` draws; replaced whole
        self.jobs: queue.SimpleQueue[Job] | None = queue.SimpleQueue() if background else None
        self.thread: threading.Thread | None = None
        # the preparing side's state (the thread's alone when `background`)
        self._images: dict[int, Pixels] = {}
        self._placements: dict[int, Placement] = {}
        self._prepared: dict[int, PreparedOverlay] = {}
        self._geometry: Geometry | None = None

    def set_image(self, key: int, png: bytes) -> None:
        """A new capture of overlay `key` (an unreadable image: OverlayError, or a log line
        when `background`)."""
        self._submit(("image", key, png))

    def place(self, key: int, placement: Placement) -> None:
        self._submit(("place", key, placement))

    def remove(self, key: int) -> None:
        self._submit(("remove", key, None))

    def keep_only(self, keys: set[int]) -> None:
        self._submit(("keep", 0, set(keys)))

    @staticmethod
    def applicable(width: int, height: int) -> bool:
        return width * height <= MAX_SOURCE[0] * MAX_SOURCE[1] and max(width, height) <= MAX_SOURCE[0]

    def apply(self, frame: av.VideoFrame) -> av.VideoFrame:
        """`frame` with every overlay drawn (a yuv420p frame, possibly `frame` itself made
        writable: a decoder's frame may share its buffers with the decoder's references)."""
        if not self.applicable(frame.width, frame.height):
            return frame
        name = frame.format.name
        geometry = (frame.width, frame.height, name if name in FORMATS else "yuv420p")
        if geometry != self.geometry:
            self.geometry = geometry
            self._submit(("geometry", 0, geometry))
        drawn = [overlay for overlay in self.drawn if overlay.geometry == geometry]
        if not drawn:
            return frame
        if name not in FORMATS:
            frame = self.reformatter.reformat(frame, format="yuv420p")
        frame.make_writable()
        planes = [_plane_view(frame, index) for index in range(3)]
        for overlay in drawn:
            overlay.apply(planes)
        return frame

    # -- the preparing side ----------------------------------------------------------------
    def _submit(self, job: Job) -> None:
        if self.jobs is None:
            self._handle(job)
            self._publish()
            return
        self.jobs.put(job)
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="overlays", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        assert self.jobs is not None
        while True:
            jobs = [self.jobs.get()]
            while not self.jobs.empty():  # a burst (a new worker's state) is published once
                jobs.append(self.jobs.get())
            for job in jobs:
                try:
                    self._handle(job)
                except OverlayError as error:
                    log.warning("overlay %d: image refused: %s", job[1], error)
                except Exception:  # an overlay must never take the picture down
                    log.exception("overlay %d: %s failed", job[1], job[0])
            self._publish()

    def _handle(self, job: Job) -> None:
        kind, key, value = job
        if kind == "image":
            self._images[key] = decode_png(value)
            self._prepared.pop(key, None)
        elif kind == "place":
            if self._placements.get(key) != value:
                self._placements[key] = value
                self._prepared.pop(key, None)
        elif kind == "remove":
            value = set(self._placements) - {key}
            kind = "keep"
        if kind == "keep":
            for gone in (set(self._images) | set(self._placements)) - value:
                self._images.pop(gone, None)
                self._placements.pop(gone, None)
                self._prepared.pop(gone, None)
        elif kind == "geometry":
            self._geometry = value
            self._prepared.clear()

    def _publish(self) -> None:
        geometry = self._geometry
        if geometry is None:
            return
        drawn = []
        for key, image in self._images.items():
            placement = self._placements.get(key)
            if placement is None:
                continue
            if key not in self._prepared:
                self._prepared[key] = PreparedOverlay(image, placement, geometry)
            drawn.append(self._prepared[key])
        self.drawn = tuple(drawn)


def _plane_view(frame: av.VideoFrame, index: int) -> Pixels:
    plane = frame.planes[index]
    rows: Pixels = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return rows[: plane.height, : plane.width]
