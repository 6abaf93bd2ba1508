"""A source that changes picture size mid-stream, and what a player reads of an init segment.

The source is what an encoder restarted behind one multiplexer sends: two x264 encodes of
different sizes joined by ffmpeg's concat demuxer into one MPEG-TS with continuous
timestamps, the new SPS in-band on the first keyframe of the second part. `-c copy` of it
to FLV (RTMP) keeps the SPS in-band too (ffmpeg's FLV muxer writes one sequence header).
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from packager.isobmff import VISUAL_SAMPLE_ENTRY_SIZE, find_box, full_box
from packager.parameter_sets import SequenceParameters, extradata_units, parse_sps


def size_changing_clip(
    directory: Path,
    parts: tuple[tuple[str, float], ...] = (("640x360", 4), ("320x180", 4)),
    *,
    rate: int = 25,
    gop: int = 25,
    container: str = "mpegts",
) -> Path:
    """One file of `parts` (size, seconds) in turn; `container` "mpegts" or "flv"."""
    directory.mkdir(parents=True, exist_ok=True)
    name = "_".join(size for size, _ in parts)
    joined = directory / f"{name}.ts"
    if not joined.exists():
        pieces, offset = [], 0.0
        for index, (size, seconds) in enumerate(parts):
            piece = directory / f"{name}_{index}.ts"
            subprocess.run(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    f"testsrc2=size={size}:rate={rate}",
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=frequency=440:sample_rate=48000",
                    "-t",
                    str(seconds),
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-pix_fmt",
                    "yuv420p",
                    "-g",
                    str(gop),
                    "-keyint_min",
                    str(gop),
                    "-sc_threshold",
                    "0",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "64k",
                    "-output_ts_offset",
                    str(offset),
                    "-f",
                    "mpegts",
                    str(piece),
                ],
                check=True,
            )
            pieces.append(piece)
            offset += seconds
        listing = directory / f"{name}.txt"
        listing.write_text("".join(f"file '{p.name}'\n" for p in pieces))
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "concat",
                "-i",
                str(listing),
                "-c",
                "copy",
                "-f",
                "mpegts",
                str(joined),
            ],
            check=True,
        )
    if container == "mpegts":
        return joined
    flv = joined.with_suffix(".flv")
    if not flv.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(joined), "-c", "copy", "-f", "flv", str(flv)], check=True
        )
    return flv


def init_sps(init: bytes) -> SequenceParameters:
    """The SPS of an init segment's avcC, parsed (what a decoder will use)."""
    stsd = find_box(init, "moov/trak/mdia/minf/stbl/stsd")
    _, _, position = full_box(init, stsd)
    entry_start = position + 4
    avcc = find_box(init, "avcC", entry_start + 8 + VISUAL_SAMPLE_ENTRY_SIZE, stsd.end)
    return parse_sps(extradata_units(init[avcc.payload_offset : avcc.end])[0])


def init_sizes(init: bytes) -> tuple[tuple[int, int], tuple[int, int]]:
    """(the tkhd's width x height, the avc1 sample entry's): what the container tells players."""
    tkhd = find_box(init, "moov/trak/tkhd")
    version, _, position = full_box(init, tkhd)
    position += (32 if version == 1 else 20) + 8 + 8 + 36  # times, id, duration; reserved, layer…; matrix
    width, height = struct.unpack_from(">II", init, position)
    stsd = find_box(init, "moov/trak/mdia/minf/stbl/stsd")
    _, _, entry = full_box(init, stsd)
    sample_width, sample_height = struct.unpack_from(">HH", init, entry + 4 + 8 + 24)
    return (width >> 16, height >> 16), (sample_width, sample_height)
