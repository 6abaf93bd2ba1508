"""One output track (a video rendition or the audio track): fragmenter, pending samples, files.

`TrackOutput` knows how to turn fragments into parts, segment files and window entries; it
does not decide where segments start (that is `LiveOutput`'s job, shared across tracks).
Each part is appended to its segment's file as it is published (the part is that byte
range), so a segment is one file written once, not one file per part plus a second copy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from packager.atomic import GrowingFile, write_new
from packager.cmaf import Frame, StreamTemplate, TrackFragmenter
from packager.disk_full import MakeRoom, no_room, write_with_room
from packager.hls import target_duration
from packager.isobmff import TrackInfo
from packager.moof import Fragment, build_fragment
from packager.resume import ResumePoint
from packager.window import Part, Segment, TrackWindow, WindowSpan

PART_TICKS_SLACK = 1  # a tick of rounding in the timescale


@dataclass(frozen=True)
class VideoTrackId:
    rendition: str


@dataclass(frozen=True)
class AudioTrackId:
    rendition: str = "audio"


TrackId = VideoTrackId | AudioTrackId


@dataclass
class PendingSample:
    """What the packager remembers of a packet until its fragment comes out.

    Times are seconds on the packager's media timeline (the source's, shifted to start near
    `ORIGIN_MARGIN`). `starts_segment` is None until decided.
    """

    pts: float
    dts: float
    keyframe: bool
    received: float = 0.0  # POSIX wall clock when the packager got it (the fragment's `prft`)
    starts_segment: bool | None = None


class TrackOutput:
    """Files and window of one track under `<out_dir>/<name>/`."""

    def __init__(
        self,
        name: str,
        template: av.stream.Stream,
        out_dir: Path,
        part_target: float,
        span: WindowSpan | int,
        bandwidth: int | None,
    ) -> None:
        self.name = name
        self.kind = template.type
        self.stream_template = StreamTemplate(template)
        self.out_dir = out_dir
        self.part_target = part_target
        self.configured_bandwidth = bandwidth
        self.window = TrackWindow(span)
        self.samples: deque[PendingSample] = deque()
        self.fragments: deque[Fragment] = deque()
        self.fragmenter: TrackFragmenter | None = None
        self.flushed = False  # fragmenter closed: the last fragment has no follower
        self.info: TrackInfo | None = None
        self.init_path: str | None = None
        self.init_generation = 0
        self.started = False  # video: first keyframe seen since the last (dis)continuity
        self.segments_claimed = 0  # leader boundaries this track has started segments at
        self.next_msn = 0
        self.segments_completed = 0
        self.pending_discontinuity = False
        self.discontinuity_sequence = 0  # of the segment opened last: discontinuities up to it
        self.last_duration = 0  # of the last packet, in its time base, to fill missing ones
        self.last_dts: int | None = None
        self.dropped_packets = 0  # decode timestamps that did not increase
        self.segment_file: GrowingFile | None = None
        self.part_fragments: list[Fragment] = []
        self.part_received = 0.0  # wall clock of the part's first frame
        self.fragment_sequence = 0
        self.part_ticks = 0
        self.part_shortest = 0  # ticks of the part's shortest frame
        self.part_independent: bool | None = None
        self.total_bits = 0
        self.total_seconds = 0.0
        self.total_samples = 0
        self.peak_bandwidth = 0
        self.target_duration = 0
        self.new_init = False
        self.init_bytes = b""
        self.formats: dict[str, tuple[str, int | None, int | None]] = {}  # init path → codec, width, height
        self.generation_from: float | None = None  # open a new init generation at the segment from here
        self.retired = False  # shed by the transcoder: no longer listed or fed
        self.listed = True  # False: in no playlist, master or MPD (the recorder's source track)
        self.carried: list[dict[str, Any]] = []  # a crashed predecessor's window, until the first segment
        self.make_room: MakeRoom = no_room  # a full disk: what frees space (LiveOutput's DVR window)
        (out_dir / name).mkdir(parents=True, exist_ok=True)

    @property
    def is_video(self) -> bool:
        return self.kind == "video"

    def feed(self, frame: Frame, sample: PendingSample) -> None:
        """Record the sample, then fragment: the previous frame's fragment comes back during the call."""
        if self.fragmenter is None:
            self.fragmenter = TrackFragmenter(self.stream_template, self._take_init, self.fragments.append)
        self.samples.append(sample)
        try:
            self.fragmenter.mux(frame)
        except Exception:
            self.samples.pop()  # keep samples and fragments paired one to one
            raise

    def replace_template(self, template: av.stream.Stream | StreamTemplate) -> None:
        self.stream_template = template if isinstance(template, StreamTemplate) else StreamTemplate(template)

    def flush(self) -> None:
        if self.fragmenter is not None:
            self.fragmenter.close()
            self.fragmenter = None
        self.flushed = True

    def _take_init(self, data: bytes, info: TrackInfo) -> None:
        self.info = info
        suffix = f"_{self.init_generation}" if self.init_generation else ""
        self.init_path = f"{self.name}/init{suffix}.mp4"
        path = self.out_dir / self.init_path
        write_with_room(lambda: write_new(path, data), self.make_room)
        self.new_init = True
        self.init_bytes = data
        self.formats[self.init_path] = (info.codec, self.stream_template.width, self.stream_template.height)

    def start_generation(self) -> None:
        """Go on in the next init generation (another track changed format, and every track's
        segments from here on belong to a new Period): the same init segment under the new
        name, the next segment after a discontinuity. The muxer is untouched."""
        self.init_generation += 1
        self.pending_discontinuity = True
        if self.info is not None:
            self._take_init(self.init_bytes, self.info)

    def resume(self, point: ResumePoint) -> None:
        """Continue a previous worker's track: its numbers, after a discontinuity."""
        self.next_msn = point.msn
        self.init_generation = point.init_generation
        self.discontinuity_sequence = point.discontinuity_sequence
        self.window.discontinuity_sequence = point.discontinuity_sequence
        self.pending_discontinuity = True

    def carry(self, segments: list[dict[str, Any]]) -> None:
        """List a crashed predecessor's last window ("segment" events) before this worker's
        segments; taken in at the first segment, once this track's timescale is known."""
        self.carried = self.window.span.newest(segments)

    def _take_carried(self, start: int) -> list[str]:
        """Put the carried segments in the window (same timescale only: the MPD gives each
        Representation one), then a GAP for each number between them and this worker's first
        (`start`): HLS numbers segments by position, and the crashed worker named one more (a
        part, or the preload hint) than it completed. The gaps share the media time between
        (none longer than the longest carried segment: the target duration must not change):
        HLS players skip them (EXT-X-GAP); the MPD lists them so that its first Period runs up
        to the second (dash.js stalled at a Period whose timeline ended early) and a DASH player
        reads what the crashed worker wrote of the segment (an empty file if nothing) and jumps
        the rest. Returns the carried paths and init paths, now this worker's."""
        carried, self.carried = self.carried, []
        if not carried:
            return []
        assert self.info is not None  # the first segment opens after the init segment
        if any(s["timescale"] != self.info.timescale for s in carried):
            return []
        segments = [carried_segment(event) for event in carried]
        gaps = gap_segments(self.name, segments, self.next_msn, start)
        for gap in gaps:
            path = self.out_dir / gap.path
            if not path.exists():
                write_new(path, b"")
        segments += gaps
        self.window.segments.extend(segments)
        first = carried[0]
        self.window.discontinuity_sequence = first["discontinuity_sequence"] - first["discontinuity"]
        self.window.max_segment_duration = max(s.duration for s in segments)
        return [s.path for s in segments] + sorted({s["init"] for s in carried})

    def open_segment(self, start: int, wall_clock: float) -> tuple[Segment, list[str]]:
        """The new segment, and the paths of carried segments taken in now (see `carry`)."""
        assert self.info is not None and self.init_path is not None
        adopted = self._take_carried(start) if self.carried else []
        msn = self.next_msn
        self.next_msn += 1
        self.discontinuity_sequence += self.pending_discontinuity
        segment = Segment(
            msn=msn,
            path=f"{self.name}/seg_{msn}.m4s",
            init_path=self.init_path,
            start=start,
            timescale=self.info.timescale,
            wall_clock=wall_clock,
            discontinuity=self.pending_discontinuity,
        )
        self.pending_discontinuity = False
        self.window.open_segment(segment)
        return segment, adopted

    def add_to_part(self, fragment: Fragment, received: float) -> None:
        """Append one frame's fragment (its frame received at that wall clock) to the part
        being assembled (independent = it starts with a sync sample)."""
        assert self.info is not None
        if not self.part_fragments:
            self.part_independent = fragment.first_sample_is_sync
            self.part_received = received
            self.part_shortest = fragment.duration
        self.part_fragments.append(fragment)
        self.part_ticks += fragment.duration
        self.part_shortest = min(self.part_shortest, fragment.duration)
        self.total_samples += 1

    def part_is_full(self) -> bool:
        """Would even a frame as short as the part's shortest push it past the part target?

        Not "one more frame like the last": timestamps in milliseconds (RTMP) make 30 fps
        frames 33, 33, 34 ms long, 15 of them exactly the 0.5 s target, but 14 plus one more
        34 ms frame past it, so every segment came out as parts of 14, 15, 15, 15 frames and a
        1-frame tail. A part that is not full waits for the next frame, whose own length
        decides (`fits`); the part never exceeds the target.
        """
        return not self.fits(self.part_shortest)

    def fits(self, ticks: int) -> bool:
        """Does a frame of `ticks` still fit in the part being assembled?"""
        assert self.info is not None
        return self.part_ticks + ticks <= self.part_target * self.info.timescale + PART_TICKS_SLACK

    def write_part(self) -> Part:
        """Write the assembled part (`seg_N.M.m4s`) and list it in the window."""
        segment = self.window.current
        assert segment is not None and self.info is not None and self.part_fragments
        index = len(segment.parts)
        data = self._merge_part_fragments()
        segment_file = self.segment_file
        if segment_file is None:
            segment_file = write_with_room(lambda: GrowingFile(self.out_dir / segment.path), self.make_room)
            self.segment_file = segment_file
        offset = write_with_room(lambda: segment_file.append(data), self.make_room)
        part = Part(
            msn=segment.msn,
            index=index,
            path=f"{self.name}/seg_{segment.msn}.{index}.m4s",
            ticks=self.part_ticks,
            timescale=self.info.timescale,
            independent=bool(self.part_independent),
            size=len(data),
            offset=offset,
        )
        self.part_fragments = []
        self.part_ticks = 0
        self.window.add_part(part)
        self.total_bits += 8 * part.size
        self.total_seconds += part.duration
        self.target_duration = max(self.target_duration, target_duration([segment.duration]))
        return part

    def _merge_part_fragments(self) -> bytes:
        """The part's frames as one prft+moof+mdat (one CMAF chunk), not one fragment per frame."""
        self.fragment_sequence += 1
        return build_fragment(self.fragment_sequence, self.part_fragments, self.part_received)

    def complete_segment(self) -> Segment:
        segment = self.window.complete_current()
        self.segments_completed += 1
        self.close_segment_file()
        if segment.duration > 0:
            self.peak_bandwidth = max(self.peak_bandwidth, round(8 * segment.size / segment.duration))
        return segment

    def close_segment_file(self) -> None:
        """The open segment's file is complete (or abandoned: the track was retired)."""
        if self.segment_file is not None:
            self.segment_file.close()
            self.segment_file = None

    def bandwidths(self) -> tuple[int, int]:
        """(peak, average) bits per second: configured, else measured on what was written."""
        if self.configured_bandwidth:
            return self.configured_bandwidth, self.configured_bandwidth
        average = round(self.total_bits / self.total_seconds) if self.total_seconds else 0
        return max(self.peak_bandwidth, average), average

    def next_part_path(self) -> str:
        """The part the muxer will write next (the preload hint)."""
        current = self.window.current
        if current is None:
            return f"{self.name}/seg_{self.next_msn}.0.m4s"
        return f"{self.name}/seg_{current.msn}.{len(current.parts)}.m4s"


def carried_segment(event: dict[str, Any]) -> Segment:
    """A complete segment of a crashed predecessor, from its "segment" event: listed whole,
    its parts neither listed nor served (one stand-in part gives its duration and size)."""
    stand_in = Part(event["msn"], 0, "", event["ticks"], event["timescale"], True, event["size"])
    return Segment(
        msn=event["msn"],
        path=event["path"],
        init_path=event["init"],
        start=event["start"],
        timescale=event["timescale"],
        wall_clock=event["wall_clock"],
        discontinuity=event["discontinuity"],
        parts=[stand_in],
        complete=True,
        parts_served=False,
    )


def gap_segments(name: str, carried: list[Segment], next_msn: int, start: int) -> list[Segment]:
    """EXT-X-GAP segments for the numbers between the carried ones and `next_msn`, sharing
    the media time up to `start`, none longer than the longest carried segment."""
    last = carried[-1]
    missing = range(last.msn + 1, next_msn)
    if not missing:
        return []
    end = last.start + last.ticks
    share = min(max(s.ticks for s in carried), max(1, (start - end) // len(missing)))
    gaps = []
    for index, msn in enumerate(missing):
        at = end + index * share
        gaps.append(
            Segment(
                msn=msn,
                path=f"{name}/seg_{msn}.m4s",
                init_path=last.init_path,
                start=at,
                timescale=last.timescale,
                wall_clock=last.wall_clock + (at - last.start) / last.timescale,
                parts=[Part(msn, 0, "", share, last.timescale, True, 0)],
                complete=True,
                parts_served=False,
                gap=True,
            )
        )
    return gaps
