"""Test helpers for the packager: real clips, a LiveOutput run, a small LL-HLS playlist reader."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import av

from packager.live import LiveOutput, PackagerConfig
from tests.support.playlist_texts import with_texts

FAKE_NOW = 1_800_000_000.0


def make_clip(
    path: Path,
    *,
    gop: int = 25,
    seconds: float = 6,
    sizes: tuple[str, ...] = ("320x240",),
    rate: int = 25,
    b_frames: bool = True,
) -> Path:
    """x264 + AAC test clip; several sizes = several video streams, same GOPs. Without
    B-frames it is encoded as the test publisher (and OBS's x264 by default) does."""
    if path.exists():
        return path
    args = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=320x240:rate={rate}",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        str(seconds),
    ]
    for index, size in enumerate(sizes):
        args += ["-map", "0:v"]
        args += [f"-s:v:{index}", size]
    x264 = ["-preset", "veryfast"] if b_frames else ["-preset", "ultrafast", "-tune", "zerolatency"]
    args += [
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        *x264,
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
        str(path),
    ]
    subprocess.run(args, check=True)
    return path


@dataclass
class Run:
    out_dir: Path
    events: list[dict]
    source_first_pts: dict[str, float] = field(default_factory=dict)  # rendition → seconds

    def of(self, kind: str, rendition: str | None = None) -> list[dict]:
        """The events of `kind`; `playlist` ones with the playlist's whole `text` (they carry updates)."""
        events = with_texts(self.events) if kind == "playlist" else self.events
        return [e for e in events if e["event"] == kind and (rendition is None or e.get("rendition") == rendition)]


def package(
    clip: Path,
    out_dir: Path,
    *,
    names: tuple[str, ...] = ("origin",),
    unlisted: tuple[str, ...] = (),
    lag: dict[str, int] | None = None,
    now: float = FAKE_NOW,
    clock=None,
    **config,
) -> Run:
    """Demux `clip` with PyAV and feed every packet to a LiveOutput, as fast as possible.

    `lag` holds a track's packets back by that many packets of the whole stream, the way a
    slower encoder thread would deliver them late (order within the track is kept). `now` is
    the wall clock the packager reads (fixed), unless a `clock` is given. The video tracks
    named in `unlisted` are added unlisted.
    """
    lag = lag or {}
    held: list[tuple[int, object, av.Packet]] = []  # (release at packet count, track, packet)
    events: list[dict] = []
    output = LiveOutput(PackagerConfig(out_dir, **config), events.append, clock=clock or (lambda: now))
    run = Run(out_dir, events)
    with av.open(str(clip)) as container:
        tracks = {}
        names_left = list(names)
        for stream in container.streams:
            if stream.type == "video":
                name = names_left.pop(0)
                tracks[stream.index] = output.add_video(name, stream, listed=name not in unlisted)
            elif stream.type == "audio":
                tracks[stream.index] = output.add_audio(stream)
        count = 0
        for packet in container.demux():
            if packet.size == 0:
                continue
            count += 1
            track = tracks[packet.stream.index]
            name = track.rendition
            if name not in run.source_first_pts and (packet.stream.type != "video" or packet.is_keyframe):
                run.source_first_pts[name] = float(packet.pts * packet.time_base)
            held.append((count + lag.get(name, 0), track, packet))
            while held and min(release for release, _, _ in held) <= count:
                ready = min(range(len(held)), key=lambda i: held[i][0])
                _, ready_track, ready_packet = held.pop(ready)
                output.mux(ready_track, ready_packet)
        for _, ready_track, ready_packet in sorted(held, key=lambda item: item[0]):
            output.mux(ready_track, ready_packet)
    output.close()
    return run


@dataclass
class PlaylistPart:
    duration: float
    uri: str
    independent: bool


@dataclass
class PlaylistSegment:
    msn: int
    duration: float | None  # None: still in progress
    uri: str | None
    parts: list[PlaylistPart]
    program_date_time: str | None
    map_uri: str | None
    discontinuity: bool = False


@dataclass
class MediaPlaylist:
    tags: dict[str, str]
    segments: list[PlaylistSegment]
    preload_hint: str | None
    ended: bool

    @property
    def target_duration(self) -> int:
        return int(self.tags["EXT-X-TARGETDURATION"])

    @property
    def part_target(self) -> float:
        return float(attributes(self.tags["EXT-X-PART-INF"])["PART-TARGET"])


def attributes(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', text)}


def parse_media_playlist(text: str) -> MediaPlaylist:
    lines = text.splitlines()
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not an M3U8 playlist")
    tags: dict[str, str] = {}
    segments: list[PlaylistSegment] = []
    msn = None
    parts: list[PlaylistPart] = []
    pdt = map_uri = None
    discontinuity = False
    pending_duration = None
    preload = None
    ended = False
    for line in lines[1:]:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-SKIP:"):  # a delta update: the map must be stated again after it
            tags["EXT-X-SKIP"] = line.split(":", 1)[1]
            msn = (msn or 0) + int(attributes(tags["EXT-X-SKIP"])["SKIPPED-SEGMENTS"])
            map_uri = None
        elif line.startswith("#EXT-X-MAP:"):
            map_uri = attributes(line.split(":", 1)[1])["URI"]
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = line.split(":", 1)[1]
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line.startswith("#EXT-X-PART:"):
            a = attributes(line.split(":", 1)[1])
            parts.append(PlaylistPart(float(a["DURATION"]), a["URI"], a.get("INDEPENDENT") == "YES"))
        elif line.startswith("#EXTINF:"):
            pending_duration = float(line.split(":", 1)[1].rstrip(","))
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            preload = attributes(line.split(":", 1)[1])["URI"]
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line.startswith("#"):
            name, _, value = line[1:].partition(":")
            tags[name] = value
        elif line:
            if pending_duration is None or msn is None:
                raise ValueError(f"segment URI without EXTINF: {line}")
            segments.append(PlaylistSegment(msn, pending_duration, line, parts, pdt, map_uri, discontinuity))
            msn += 1
            parts, pdt, pending_duration, discontinuity = [], None, None, False
    if parts:
        segments.append(PlaylistSegment(msn, None, None, parts, pdt, map_uri, discontinuity))
    if "EXT-X-TARGETDURATION" not in tags:
        raise ValueError("no target duration")
    return MediaPlaylist(tags, segments, preload, ended)


def fragment_ticks(data: bytes) -> tuple[int, int]:
    """(first tfdt, summed sample durations) of all moof boxes in a segment or part file."""
    from packager.isobmff import iter_boxes
    from packager.moof import parse_fragment

    first = None
    total = 0
    boxes = list(iter_boxes(data))
    for index, box in enumerate(boxes):
        if box.type == "moof":
            timing = parse_fragment(data[box.offset : boxes[index + 1].end])
            first = timing.base_decode_time if first is None else first
            total += timing.duration
    return first, total


def decode_times(data: bytes, path: Path) -> list[tuple[float, float, bool]]:
    """(pts, duration, keyframe) of every packet PyAV demuxes from `data` (init + media)."""
    path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams[0]
        return [
            (float(p.pts * p.time_base), float(p.duration * p.time_base), p.is_keyframe)
            for p in container.demux(stream)
            if p.pts is not None
        ]


def discontinuity_numbers(playlist: MediaPlaylist) -> dict[int, int]:
    """msn → its discontinuity sequence number, as hls.js counts it (`cc`): the playlist's
    EXT-X-DISCONTINUITY-SEQUENCE, plus one for every EXT-X-DISCONTINUITY up to the segment."""
    number = int(playlist.tags.get("EXT-X-DISCONTINUITY-SEQUENCE", "0"))
    numbers = {}
    for segment in playlist.segments:
        number += segment.discontinuity
        numbers[segment.msn] = number
    return numbers
