"""What the passthrough packager costs, next to ffmpeg's own fMP4 HLS remux on the same clip.

Feeds a 60 s 1080p ~6 Mbit/s H.264 + AAC clip (FLV, as the RTMP ingest delivers it; made once
under bench/out/) through LiveOutput as fast as possible and prints CPU-seconds per media
second: PyAV demux alone, demux + LiveOutput, and the reference
`ffmpeg -c copy -f hls -hls_segment_type fmp4` (children's rusage), and the ratio. Then the
same with the video muxed a second time into an unlisted track (what html_overlay adds for
`record_type=origin`: the source as received beside the re-encoded origin): the difference is
that track's cost.

Run: PYTHONPATH=. python bench/packager_cost.py [--seconds 60] [--smoke]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import smoke
from bench.clips import OUT, make_clip
from packager.live import LiveOutput, PackagerConfig


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def demux_only(clip: Path) -> float:
    start = cpu_self()
    with av.open(str(clip)) as container:
        for _ in container.demux():
            pass
    return cpu_self() - start


def package(clip: Path, out_dir: Path, unlisted_copy: bool = False) -> tuple[float, float, int]:
    """`unlisted_copy`: the video also goes into an unlisted track, which leads (html_overlay's
    source track beside the origin)."""
    events = []
    output = LiveOutput(PackagerConfig(out_dir), events.append)
    start_cpu, start_wall = cpu_self(), time.perf_counter()
    with av.open(str(clip)) as container:
        tracks, copies = {}, {}
        for stream in container.streams:
            if stream.type == "video" and unlisted_copy:
                copies[stream.index] = output.add_video("source", stream, listed=False)
            tracks[stream.index] = (
                output.add_video("origin", stream) if stream.type == "video" else output.add_audio(stream)
            )
        for packet in container.demux():
            if packet.size:
                if packet.stream.index in copies:
                    output.mux(copies[packet.stream.index], packet)
                output.mux(tracks[packet.stream.index], packet)
    output.close()
    return cpu_self() - start_cpu, time.perf_counter() - start_wall, len(events)


def ffmpeg_reference(clip: Path, out_dir: Path) -> float:
    out_dir.mkdir(parents=True, exist_ok=True)
    start = cpu_children()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(clip),
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_segment_type",
            "fmp4",
            "-hls_time",
            "2",
            "-hls_list_size",
            "8",
            "-hls_flags",
            "delete_segments",
            str(out_dir / "index.m3u8"),
        ],
        check=True,
    )
    return cpu_children() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    smoke.add_flag(parser)
    args = parser.parse_args()
    if args.smoke:  # a 2 s 360p clip in a temp directory
        with tempfile.TemporaryDirectory(prefix="bench-packager-") as work:
            compare(make_clip(smoke.CLIP_SECONDS, size=smoke.CLIP_SIZE, directory=Path(work)), Path(work) / "run")
        return
    compare(make_clip(args.seconds), OUT / "run")


def compare(clip: Path, work: Path) -> None:
    with av.open(str(clip)) as container:
        media = float(container.duration / av.time_base)
        bitrate = container.bit_rate
        height = container.streams.video[0].height
    shutil.rmtree(work, ignore_errors=True)
    demux = demux_only(clip)
    packaged, wall, events = package(clip, work / "headwater")
    reference = ffmpeg_reference(clip, work / "ffmpeg")
    print(f"clip: {media:.1f} s, {bitrate / 1e6:.1f} Mbit/s, {height}p30 H.264 + AAC (FLV)")
    print(f"PyAV demux only          : {demux / media:.4f} CPU-s per media s")
    print(f"demux + LiveOutput       : {packaged / media:.4f} CPU-s per media s ({wall:.2f} s wall, {events} events)")
    print(f"  of which LiveOutput    : {(packaged - demux) / media:.4f} CPU-s per media s")
    print(f"ffmpeg -c copy -f hls fmp4: {reference / media:.4f} CPU-s per media s")
    print(f"ratio (demux + LiveOutput) / ffmpeg: {smoke.ratio(packaged, reference):.1f}x")
    print(f"one stream at real time  : {100 * packaged / media:.2f} % of a core")
    copied = min(package(clip, work / f"unlisted{run}", unlisted_copy=True)[0] for run in range(2))
    once = min(packaged, package(clip, work / "again")[0])
    print(f"+ an unlisted copy of the video: {100 * copied / media:.2f} % of a core")
    print(f"  the unlisted track     : {100 * (copied - once) / media:.2f} % of a core")


if __name__ == "__main__":
    main()
