"""LiveOutput: encoded packets in; CMAF parts and segments, LL-HLS playlists and a DASH MPD out.

Segment boundaries. The first video rendition (the leader) decides with `SegmentBoundaries`
as its packets are muxed. Every other track starts segment k at its first fragment at or
after the leader's k-th boundary (video: a fragment that starts with a keyframe), so all
tracks share media sequence numbers. A non-leader fragment is published only once the leader
has muxed past its time — until then nobody knows whether it starts a segment. Without video,
the audio track leads on its own fragments.

Timeline. All tracks share one media timeline: source time minus an origin taken at the first
packet (minus ORIGIN_MARGIN, so tracks that start slightly earlier stay non-negative). The
fragments carry it in `tfdt`, so players keep audio and video in sync. PROGRAM-DATE-TIME and
the MPD's availabilityStartTime come from one media-time → wall-clock anchor taken at the
first packet (`clock`, injectable for tests). Each packet's arrival (`clock` again) goes into
its part's `prft` box and, for a Period's first leader sample, the MPD's ProducerReferenceTime.
A DASH Period's start is fixed when it first appears in the MPD (`dash.PeriodClock`) and kept
until its last segment leaves the window.

Numbering: media sequence numbers (= DASH `$Number$`) start at 0; part M of segment N is
`seg_N.M.m4s` with M counted from 0, served by the node as a byte range of `seg_N.m4s`.
A worker that replaces one of the same stream starts where that one stopped
(`PackagerConfig.resume`, see `packager/resume.py`): numbers, init generation and
discontinuity count go on, the first segment is a discontinuity, and the media timeline
continues the old MPD's on the wall clock.
"""

from __future__ import annotations

import posixpath
import time
from collections import deque
from dataclasses import astuple, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av

from packager import manifests
from packager.dash import PeriodClock
from packager.atomic import remove_quietly, write_atomic
from packager.boundaries import SegmentBoundaries
from packager.cmaf import Frame
from packager.moof import Fragment
from packager.resume import ResumePoint
from packager.track import AudioTrackId, PendingSample, TrackId, TrackOutput, VideoTrackId
from packager.window import Expired, Segment

ORIGIN_MARGIN = Fraction(10)
BOUNDARY_TOLERANCE = 0.005  # seconds: same source frame, different time bases
MAX_EARLY_AUDIO = 500  # audio packets held while waiting for the first video keyframe

__all__ = ["PackagerConfig", "LiveOutput", "VideoTrackId", "AudioTrackId"]


@dataclass
class PackagerConfig:
    out_dir: Path
    part_target: float = 0.5
    segment_target: float = 2.0
    window_segments: int = 8
    utc_timing_url: str = "/time"  # the node's clock; the worker is given the absolute URL (GStreamer needs it)
    resume: ResumePoint | None = None  # where a previous worker of this stream stopped

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if not 0 < self.part_target < self.segment_target:
            raise ValueError("need 0 < part_target < segment_target")


class LiveOutput:
    """Packages N video renditions + at most one audio track of one live stream.

    Call `add_video`/`add_audio` for every track before the first `mux`, then `mux` packets
    in decode order per track, then `close`. Not thread-safe: call from one thread.
    """

    def __init__(
        self, config: PackagerConfig, on_event: Callable[[dict], None], clock: Callable[[], float] = time.time,
        remove: Callable[[Path], object] = remove_quietly,
        write: Callable[[Path, bytes | str], None] = write_atomic,
    ) -> None:
        """`remove` deletes an expired file and `write` replaces a playlist's on-disk copy (a
        worker passes its `FileThread`'s: off this thread)."""
        self.config = config
        self._emit = on_event
        self._clock = clock
        self._remove = remove
        self._write = write
        self._tracks: dict[TrackId, TrackOutput] = {}
        self._leader: TrackOutput | None = None
        self._boundaries = SegmentBoundaries(config.segment_target)
        self._boundary_times: list[float] = []
        self._leader_progress = float("-inf")
        self._leader_done = False
        self._origin: Fraction | None = None
        self._shifts: dict[tuple[int, int], int] = {}  # time base → origin in its ticks
        self._anchor: tuple[float, float] | None = None  # (media seconds, wall clock)
        self._stream_start: float | None = None
        self._availability_start: float | None = None
        self._period_clocks: dict[str, PeriodClock] = {}  # by init segment name: fixed once listed
        self._period_references: dict[str, tuple[float, float]] = {}  # (media s, received) of its first leader sample
        self._early_audio: deque[tuple[Frame, PendingSample]] = deque()
        self._master_text: str | None = None
        self._master_final = False
        self._generation_pending = False  # a format change waits for the leader's next boundary
        self._closed = False
        self._continue_from: float | None = None
        self._resume_timeline = config.resume.timeline if config.resume else None
        if self._resume_timeline is not None:  # the MPD keeps its clock
            self._stream_start = self._resume_timeline.stream_start
            self._availability_start = self._resume_timeline.availability_start
            self._period_clocks = {name: PeriodClock(*values)
                                   for name, values in self._resume_timeline.periods.items()}
        config.out_dir.mkdir(parents=True, exist_ok=True)

    # -- setup -------------------------------------------------------------------------

    def add_video(self, rendition: str, template: av.video.stream.VideoStream, *, bandwidth: int | None = None) -> VideoTrackId:
        if rendition == "audio":
            raise ValueError('"audio" is reserved for the audio track')
        track = VideoTrackId(rendition)
        output = self._add(track, rendition, template, bandwidth)
        if self._leader is None or not self._leader.is_video:
            self._leader = output
        return track

    def add_audio(self, template: av.audio.stream.AudioStream, *, bandwidth: int | None = None) -> AudioTrackId:
        track = AudioTrackId()
        output = self._add(track, track.rendition, template, bandwidth)
        if self._leader is None:
            self._leader = output
        return track

    def _add(self, track: TrackId, name: str, template: av.stream.Stream, bandwidth: int | None) -> TrackOutput:
        if track in self._tracks:
            raise ValueError(f"track {name!r} already added")
        if self._origin is not None:
            raise RuntimeError("add every track before the first mux()")
        output = TrackOutput(name, template, self.config.out_dir, self.config.part_target,
                             self.config.window_segments, bandwidth)
        if self.config.resume is not None:
            output.resume(self.config.resume)
            output.carry(self.config.resume.carried.get(name, []))
        self._tracks[track] = output
        return output

    # -- packets -----------------------------------------------------------------------

    def mux(self, track: TrackId, packet: av.Packet) -> None:
        """Package one encoded packet of `track` (decode order; pts/dts in packet.time_base).

        The caller's packet is left untouched: the packager keeps a `Frame` (the bytes and
        its own shifted timestamps), so the caller may mux its packet elsewhere afterwards.
        """
        if self._closed:
            raise RuntimeError("LiveOutput is closed")
        output = self._tracks[track]
        prepared = self._prepare(output, packet)
        if prepared is None:
            return
        frame, sample = prepared
        if output is self._leader and output.is_video:
            sample.starts_segment = self._boundaries.is_segment_start(sample.pts, sample.keyframe)
            if sample.starts_segment:
                self._boundary_times.append(sample.pts)
                if self._generation_pending:
                    self._mark_generation(sample.pts)
            self._leader_progress = max(self._leader_progress, sample.dts)
        if not output.is_video and output is not self._leader and not output.started:
            self._hold_early_audio(output, frame, sample)
        else:
            output.feed(frame, sample)
            if output is self._leader and self._early_audio:
                self._release_early_audio()
        self._publish()

    def _prepare(self, output: TrackOutput, packet: av.Packet) -> tuple[Frame, PendingSample] | None:
        """The packager's own record of the packet on the shared timeline, or None to drop it
        (empty, no timestamps, dts not increasing, or video before the track's first keyframe)."""
        if packet.size == 0:
            return None
        dts = packet.dts if packet.dts is not None else packet.pts
        pts = packet.pts if packet.pts is not None else dts
        if dts is None:
            return None
        time_base = packet.time_base or output.stream_template.time_base
        if self._origin is None or self._continue_from is not None:
            self._set_origin(Fraction(dts) * time_base, Fraction(pts) * time_base)
        numerator, denominator = time_base.numerator, time_base.denominator
        shift = self._shift(numerator, denominator)
        sample = PendingSample((pts - shift) * numerator / denominator, (dts - shift) * numerator / denominator,
                        packet.is_keyframe, self._clock())
        if sample.dts < 0:
            return None
        if output.last_dts is not None and dts - shift <= output.last_dts:
            output.dropped_packets += 1  # the mp4 muxer refuses non-increasing dts
            return None
        if output.is_video and not output.started:
            if not sample.keyframe:
                return None
            output.started = True
        return self._frame(packet, output, pts - shift, dts - shift, (numerator, denominator)), sample

    def _frame(self, packet: av.Packet, output: TrackOutput, pts: int, dts: int, time_base: tuple[int, int]) -> Frame:
        """The bytes (a copy: the caller keeps its packet) with shifted timestamps; a missing
        duration is the previous dts step."""
        if output.last_dts is not None and dts > output.last_dts:
            output.last_duration = dts - output.last_dts
        output.last_dts = dts
        return Frame(bytes(packet), pts, dts, packet.duration or output.last_duration, time_base, packet.is_keyframe)

    def _shift(self, numerator: int, denominator: int) -> int:
        """The origin in ticks of that time base. Cached per time base: Fraction arithmetic on
        every packet was a measurable share of the packager's CPU. (Integer products divided
        once give the same correctly rounded seconds as float(Fraction).)"""
        key = (numerator, denominator)
        shift = self._shifts.get(key)
        if shift is None:
            shift = self._shifts[key] = round(self._origin * denominator / numerator)
        return shift

    def _set_origin(self, dts: Fraction, pts: Fraction) -> None:
        self._shifts.clear()
        if self._origin is None and self._resume_timeline is not None:
            # a previous worker's timeline: go on where the wall clock says, never backwards
            resumed = self._resume_timeline
            wall = resumed.stream_start + self._clock() - resumed.availability_start
            self._continue_from = max(resumed.media_end, wall)
        if self._continue_from is None:
            self._origin = dts - ORIGIN_MARGIN
        else:  # after a discontinuity: continue the timeline where it stopped
            self._origin = dts - Fraction(self._continue_from)
            self._continue_from = None
        self._anchor = (float(pts - self._origin), self._clock())

    def _hold_early_audio(self, output: TrackOutput, frame: Frame, sample: PendingSample) -> None:
        """Audio before the first video boundary waits: it is dropped if it ends up earlier."""
        if self._boundary_times:
            if sample.pts < self._boundary_times[0] - BOUNDARY_TOLERANCE:
                return
            output.started = True
            output.feed(frame, sample)
            return
        self._early_audio.append((frame, sample))
        if len(self._early_audio) > MAX_EARLY_AUDIO:
            self._early_audio.popleft()

    def _release_early_audio(self) -> None:
        if not self._boundary_times:
            return
        audio = next(t for t in self._tracks.values() if not t.is_video)
        while self._early_audio:
            frame, sample = self._early_audio.popleft()
            self._hold_early_audio(audio, frame, sample)

    # -- segment decisions and publishing ----------------------------------------------

    def _publish(self) -> None:
        """Move every frame whose fate is known from the muxer's output into parts/segments.

        A frame's fragment is placed once it is known whether it starts a segment and whether
        the next frame does (then the part and the segment end with it).
        """
        for output in self._ordered_tracks():
            while output.fragments:
                fragment = output.fragments[0]
                if fragment.sample_count != 1:
                    raise RuntimeError(f"{output.name}: expected one sample per fragment")
                head = output.samples[0]
                following = output.samples[1] if len(output.samples) > 1 else None
                if following is None and not output.flushed:
                    break
                if not self._decide(output, head) or (following is not None and not self._decide(output, following)):
                    break
                output.samples.popleft()
                output.fragments.popleft()
                self._place_frame(output, fragment, head, following)

    def _live_tracks(self) -> list[TrackOutput]:
        return [t for t in self._tracks.values() if not t.retired]

    def _ordered_tracks(self) -> list[TrackOutput]:
        others = [t for t in self._live_tracks() if t is not self._leader]
        return ([self._leader] if self._leader else []) + others

    def _decide(self, output: TrackOutput, sample: PendingSample) -> bool:
        """Decide whether `sample` (a fragment's first) starts a segment; False = not yet known."""
        if sample.starts_segment is not None:
            return True
        if output is self._leader:  # audio-only: the audio fragments are the decision points
            sample.starts_segment = self._boundaries.is_segment_start(sample.pts, True)
            if sample.starts_segment:
                self._boundary_times.append(sample.pts)
            return True
        claimed = output.segments_claimed
        if claimed < len(self._boundary_times):
            boundary = self._boundary_times[claimed]
            eligible = output.kind == "audio" or sample.keyframe
            sample.starts_segment = claimed == 0 or (eligible and sample.pts >= boundary - BOUNDARY_TOLERANCE)
            if sample.starts_segment:
                output.segments_claimed += 1
            return True
        if self._leader_done or self._leader_progress >= sample.pts + BOUNDARY_TOLERANCE:
            sample.starts_segment = False
            return True
        return False

    def _place_frame(self, output: TrackOutput, fragment: Fragment, head: PendingSample, following: PendingSample | None) -> None:
        due = output.generation_from
        if due is not None and head.starts_segment and head.pts >= due - BOUNDARY_TOLERANCE:
            output.generation_from = None
            output.start_generation()
        if output.new_init:
            output.new_init = False
            self._emit({"event": "init", "rendition": output.name, "path": output.init_path,
                        "generation": output.init_generation})
        if head.starts_segment or output.window.current is None:
            assert output.info is not None and self._anchor is not None
            start = fragment.base_decode_time + round((head.pts - head.dts) * output.info.timescale)
            anchor_media, anchor_wall = self._anchor
            _, adopted = output.open_segment(start, anchor_wall + head.pts - anchor_media)
            if adopted:  # a crashed predecessor's window goes on: its files are this worker's now
                self._emit({"event": "carried", "paths": adopted})
            if output is self._leader:
                if self._stream_start is None:
                    self._stream_start = head.pts
                self._period_references.setdefault(posixpath.basename(output.init_path), (head.pts, head.received))
        if output.part_fragments and not output.fits(fragment.duration):
            self._publish_part(output, ends_segment=False)  # it waited for this frame, which is too long
        output.add_to_part(fragment, head.received)
        ends_segment = following is None or bool(following.starts_segment)
        if ends_segment or output.part_is_full():
            self._publish_part(output, ends_segment)

    def _publish_part(self, output: TrackOutput, ends_segment: bool) -> None:
        part = output.write_part()
        segment = output.window.current
        self._emit({"event": "part", "rendition": output.name, "msn": part.msn, "part": part.index,
                    "path": part.path, "duration": part.duration, "independent": part.independent,
                    "file": segment.path, "offset": part.offset, "size": part.size,
                    "discontinuity_sequence": output.discontinuity_sequence})
        if ends_segment:
            output.complete_segment()
            self._emit(segment_event(output.name, segment, output.discontinuity_sequence))
        expired = output.window.trim(output.target_duration) if ends_segment else Expired()
        self._write_media_playlist(output, to_disk=ends_segment)
        self._delete(expired)
        self._update_master()
        if ends_segment:
            self._write_mpd()

    # -- files and manifests -----------------------------------------------------------

    def _write_media_playlist(self, output: TrackOutput, to_disk: bool = True) -> None:
        """Report the playlist (the node serves its text to players at once); its on-disk copy
        is rewritten only when a segment completes: nobody can play LL-HLS parts from disk
        (they are byte ranges the node serves), and every rewrite costs the worker's file
        thread — per part, half of all its writes."""
        others = [t for t in self._live_tracks() if t is not output]
        text = manifests.media_playlist(output, others, self.config.part_target,
                                        ended=self._closed or output.retired)
        path = f"{output.name}/index.m3u8"
        if to_disk:
            self._write(self.config.out_dir / path, text)
        last = output.window.last_part
        self._emit({"event": "playlist", "rendition": output.name, "path": path,
                    "msn": last.msn if last else -1, "part": last.index if last else -1, "text": text})

    def _delete(self, expired: Expired) -> None:
        """Delete the segment files the window let go and stop serving its expired parts
        (after the playlist that stopped listing them)."""
        for path in expired.segments:
            self._remove(self.config.out_dir / path)
        if expired.paths:
            self._emit({"event": "removed", "paths": expired.paths})

    def _update_master(self) -> None:
        """Write the master once codecs are known; refine measured bandwidths until the
        leader has completed MASTER_MEASURED_SEGMENTS segments, then leave it alone."""
        if self._master_final or not manifests.master_ready(self._live_tracks()):
            return
        text = manifests.master_playlist(self._live_tracks())
        if self._leader is not None and self._leader.segments_completed >= manifests.MASTER_MEASURED_SEGMENTS:
            self._master_final = True
        if text != self._master_text:
            self._master_text = text
            self._write(self.config.out_dir / "master.m3u8", text)
            self._emit({"event": "master", "path": "master.m3u8", "text": text})

    def _write_mpd(self) -> None:
        if self._stream_start is None or self._anchor is None:
            return
        if not all(any(s.complete and s.init_path == t.init_path for s in t.window.segments)
                   for t in self._live_tracks()):
            return  # (a carried window alone: the segment being written is not in its Period)
        self._fix_period_clocks()
        if self._availability_start is None:  # fixed for the life of the MPD
            # the zero of the MPD timeline: no Period may start before it
            self._stream_start = min([self._stream_start] + [c.start for c in self._period_clocks.values()])
            anchor_media, anchor_wall = self._anchor
            self._availability_start = anchor_wall + self._stream_start - anchor_media
        text = manifests.mpd(
            self._live_tracks(), self.config,
            availability_start=self._availability_start,
            publish_time=self._clock(), stream_start=self._stream_start,
            periods=self._period_clocks, ended=self._closed,
        )
        self._write(self.config.out_dir / "index.mpd", text)
        self._emit({"event": "mpd", "path": "index.mpd", "text": text,
                    "availability_start": self._availability_start, "stream_start": self._stream_start,
                    "media_end": self._announced_end(),
                    "periods": {name: list(astuple(clock)) for name, clock in self._period_clocks.items()}})

    def _fix_period_clocks(self) -> None:
        """Give each Period that appears for the first time its clock, kept from then on: its
        start is the earliest start of its tracks' first segments (the MPD is only written
        once every track has a complete segment in the newest Period). Forget the Periods
        that left the window."""
        starts: dict[str, float] = {}
        walls: dict[str, tuple[float, float]] = {}
        for track in self._live_tracks():
            for segment in track.window.segments:
                if not segment.complete:
                    continue
                name = posixpath.basename(segment.init_path)
                start = segment.start / segment.timescale
                if start < starts.get(name, float("inf")):
                    starts[name] = start
                    walls[name] = (start, segment.wall_clock)
        for name, start in starts.items():
            if name not in self._period_clocks:
                reference = self._period_references.get(name, walls[name])
                self._period_clocks[name] = PeriodClock(start, *reference)
        for name in set(self._period_clocks) - set(starts):
            del self._period_clocks[name]
            self._period_references.pop(name, None)

    def _announced_end(self) -> float:
        """Media seconds where the MPD's timelines end (complete segments only): a next
        worker's Period starts after it."""
        ends = [0.0]
        for track in self._live_tracks():
            complete = [s for s in track.window.segments if s.complete]
            if complete:
                last = complete[-1]
                ends.append((last.start + last.ticks) / last.timescale)
        return max(ends)

    # -- lifecycle ---------------------------------------------------------------------

    def discontinuity(self, templates: dict[TrackId, av.stream.Stream] | None = None) -> None:
        """Start over after a source switch or a codec change, keeping the same playlists.

        Ends every open segment, then the next packets go to new muxers (new init segments
        `init_<n>.mp4`, announced by EXT-X-MAP after EXT-X-DISCONTINUITY; a new MPD Period).
        `templates` replaces the stream templates of the given tracks (pass them when the
        codec parameters changed). Media sequence numbers continue, and so does the media
        timeline: the new source's timestamps are shifted to start where the wall clock says
        (the end of the last segment at the earliest), so a gap in the source is a gap in time.
        """
        self._flush_all()
        end = max((s.start + s.ticks) / s.timescale for t in self._tracks.values() for s in t.window.segments[-1:]) \
            if any(t.window.segments for t in self._tracks.values()) else None
        self._boundaries.reset()
        self._boundary_times = []
        self._leader_progress = float("-inf")
        self._leader_done = False
        self._early_audio.clear()
        self._master_final = False
        self._generation_pending = False
        if end is not None and self._anchor is not None:
            # continue on the wall clock (PDT and DASH availability stay true), never backwards
            anchor_media, anchor_wall = self._anchor
            self._continue_from = max(end, anchor_media + self._clock() - anchor_wall)
        next_msn = max(t.next_msn for t in self._tracks.values())
        for track, output in self._tracks.items():
            if templates and track in templates:
                output.replace_template(templates[track])
            output.flushed = False
            output.started = False
            output.segments_claimed = 0
            output.next_msn = next_msn
            output.pending_discontinuity = True
            output.init_generation += 1
            output.generation_from = None
            output.last_dts = None

    def change_format(self, track: VideoTrackId, width: int, height: int, extradata: bytes) -> bool:
        """The leading video track changes picture format at the keyframe muxed next (a new
        SPS: another size, profile or level). That keyframe starts a segment, the track's
        new init segment (`init_<n>.mp4`) has that size and parameter sets (`extradata`, in
        the form the packets use: avcC or Annex B), and every track starts
        the next init generation at that segment: EXT-X-DISCONTINUITY in every playlist at
        the same media sequence number, a new DASH Period, as after `discontinuity`. Unlike
        there, the timeline and the other tracks' muxers go on untouched: only the leader's
        last frame is flushed, and frames still on their way (an encoder's) land in the
        segment they belong to.

        Before the track's first init segment (a worker that resumes a stream whose cached
        sequence header is older than its keyframes' SPS) the first one simply gets the new
        format. Returns whether a new generation starts."""
        output = self._tracks[track]
        if output is not self._leader or not output.is_video:
            raise ValueError("only the leading video track can change format")
        if output.info is None:
            output.replace_template(output.stream_template.with_format(width, height, extradata))
            return False
        output.flush()
        self._publish()
        output.flushed = False
        output.replace_template(output.stream_template.with_format(width, height, extradata))
        output.init_generation += 1
        output.pending_discontinuity = True
        self._boundaries.reset()  # the next keyframe starts a segment
        self._generation_pending = True
        self._master_final = False
        return True

    def _mark_generation(self, boundary: float) -> None:
        """The leader's format change takes effect at `boundary`: every other track opens
        its segment from there in the next generation."""
        self._generation_pending = False
        for output in self._tracks.values():
            if output is not self._leader:
                output.generation_from = boundary

    def codec_string(self, track: TrackId) -> str | None:
        """The track's RFC 6381 codec string (e.g. `avc1.64001f`), once its init segment exists."""
        info = self._tracks[track].info
        return info.codec if info is not None else None

    def retire_video(self, track: VideoTrackId) -> None:
        """Stop a video rendition for good (the transcoder shed it to keep real time).

        It leaves the master playlist and the MPD at once; its media playlist ends
        (EXT-X-ENDLIST), so players on it move to another variant. Frames still inside its
        muxer are dropped. The leader cannot be retired: it decides the segments.
        """
        output = self._tracks[track]
        if output is self._leader:
            raise ValueError("the leading rendition cannot be retired")
        if output.retired:
            return
        output.retired = True
        output.flush()
        output.fragments.clear()
        output.samples.clear()
        output.close_segment_file()
        if output.window.segments:
            self._write_media_playlist(output)
        self._master_final = False
        self._update_master()
        self._write_mpd()

    def close(self) -> None:
        """Flush the last fragments, end the playlists (EXT-X-ENDLIST) and the MPD (static)."""
        if self._closed:
            return
        self._flush_all()
        self._closed = True
        for output in self._live_tracks():
            if output.window.segments:
                self._write_media_playlist(output)
        self._update_master()
        self._write_mpd()
        self._emit({"event": "ended"})

    def _flush_all(self) -> None:
        for output in self._live_tracks():
            output.flush()
        self._leader_done = True
        self._publish()


def segment_event(rendition: str, segment: Segment, discontinuity_sequence: int) -> dict:
    """A complete segment, with what a worker that follows a crash needs to list it on
    (`packager/resume.py`, `track.carried_segment`)."""
    return {"event": "segment", "rendition": rendition, "msn": segment.msn, "path": segment.path,
            "duration": segment.duration, "init": segment.init_path, "start": segment.start,
            "ticks": segment.ticks, "timescale": segment.timescale, "size": segment.size,
            "wall_clock": segment.wall_clock, "discontinuity": segment.discontinuity,
            "discontinuity_sequence": discontinuity_sequence}
