"""LiveOutput: encoded packets in; CMAF parts and segments, LL-HLS playlists and a DASH MPD out.

The conductor of one stream's CMAF output. Each of its jobs has its own module:
- `packager.media_timeline`: the one timeline every track shares (an origin at the first packet,
  a media-time → wall-clock anchor for PROGRAM-DATE-TIME and the MPD), and how it goes on after a
  discontinuity or from a previous worker;
- `packager.segment_decisions`: which fragment starts a segment, decided by the leading track
  and followed by the others, so all tracks share media sequence numbers;
- `packager.audio_hold`: audio that comes before the first video boundary waits for it;
- `packager.publishing`: events for every init, part and segment, the playlists, the master,
  the MPD, and deleting what left the window;
- `packager.track`: one track's muxer, files and window.
Here: the packet path (`mux`: a packet becomes a frame on the shared timeline, is decided, fed to
its track, and whatever is decided is placed into parts and segments) and the stream's lifecycle
(`discontinuity`, `change_format`, `retire_video`, `close`).

A video track can be unlisted (`add_video(listed=False)`): the source as received beside an
origin that html_overlay re-encodes, for the recorder. It is segmented and numbered with the
others and announced by the same `init`/`part`/`segment` events, but it is in no playlist,
master or MPD, and its files stay on disk only for a short window of its own
(`UNLISTED_SEGMENTS`): the recorder copies each part as it is announced.

Each packet's arrival (`clock`, injectable for tests) goes into its part's `prft` box and, for a
Period's first leader sample, the MPD's ProducerReferenceTime.

Numbering: media sequence numbers (= DASH `$Number$`) start at 0; part M of segment N is
`seg_N.M.m4s` with M counted from 0, served by the node as a byte range of `seg_N.m4s`.
A worker that replaces one of the same stream starts where that one stopped
(`PackagerConfig.resume`, see `packager/resume.py`): numbers, init generation and
discontinuity count go on, the first segment is a discontinuity, and the media timeline
continues the old MPD's on the wall clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from packager.atomic import remove_quietly, write_atomic
from packager.audio_hold import AudioHold
from packager.cmaf import Frame
from packager.disk_full import MakeRoom, shrunk_window
from packager.media_timeline import MediaTimeline
from packager.moof import Fragment
from packager.publishing import Event, LivePublisher
from packager.resume import ResumePoint
from packager.segment_decisions import BOUNDARY_TOLERANCE, SegmentDecisions
from packager.track import AudioTrackId, PendingSample, TrackId, TrackOutput, VideoTrackId
from packager.window import WindowSpan

__all__ = ["AudioTrackId", "LiveOutput", "PackagerConfig", "VideoTrackId"]

log = logging.getLogger("headwater.packager")

UNLISTED_SEGMENTS = 1  # an unlisted track keeps this many segments (and the retention after them)


@dataclass
class PackagerConfig:
    out_dir: Path
    part_target: float = 0.5
    segment_target: float = 2.0
    window_segments: int = 8
    utc_timing_url: str = "/time"  # the node's clock; the worker is given the absolute URL (GStreamer needs it)
    resume: ResumePoint | None = None  # where a previous worker of this stream stopped
    dvr_seconds: float | None = None  # DVR: every output lists the last this many seconds
    # what every output of the stream lists, shared by its CMAF tracks and TS playlists (and changed
    # at runtime through `LiveOutput.set_dvr`)
    span: WindowSpan = field(init=False)

    def __post_init__(self) -> None:
        self.span = WindowSpan(self.window_segments, self.dvr_seconds)
        self.out_dir = Path(self.out_dir)
        if not 0 < self.part_target < self.segment_target:
            raise ValueError("need 0 < part_target < segment_target")


class LiveOutput:
    """Packages N video renditions + at most one audio track of one live stream.

    Call `add_video`/`add_audio` for every track before the first `mux`, then `mux` packets
    in decode order per track, then `close`. Not thread-safe: call from one thread.
    """

    def __init__(
        self,
        config: PackagerConfig,
        on_event: Callable[[Event], None],
        clock: Callable[[], float] = time.time,
        remove: Callable[[Path], object] = remove_quietly,
        write: Callable[[Path, bytes | str], None] = write_atomic,
        make_room: MakeRoom | None = None,
    ) -> None:
        """`remove` deletes an expired file and `write` replaces a playlist's on-disk copy (a
        worker passes its `FileThread`'s: off this thread). `make_room` frees disk space when a
        media write finds the disk full (default: `shrink_for_space`; a worker's also trims its
        TS playlists and waits for the deletions, see `packager/disk_full.py`)."""
        self.config = config
        self._make_room = make_room or self.shrink_for_space
        self._clock = clock
        self._tracks: dict[TrackId, TrackOutput] = {}
        self._leader: TrackOutput | None = None
        self._closed = False
        self._timeline = MediaTimeline(clock, config.resume.timeline if config.resume else None)
        self._decisions = SegmentDecisions(config.segment_target)
        self._audio_hold = AudioHold(self._decisions)
        self._publisher = LivePublisher(
            config, on_event, clock, self._timeline, self._listed_tracks, lambda: self._leader, remove, write
        )
        config.out_dir.mkdir(parents=True, exist_ok=True)

    # -- setup -------------------------------------------------------------------------

    def add_video(
        self,
        rendition: str,
        template: av.video.stream.VideoStream,
        *,
        bandwidth: int | None = None,
        listed: bool = True,
    ) -> VideoTrackId:
        """The first video track added leads the segmenting (listed or not)."""
        if rendition == "audio":
            raise ValueError('"audio" is reserved for the audio track')
        track = VideoTrackId(rendition)
        output = self._add(track, rendition, template, bandwidth, listed)
        if self._leader is None or not self._leader.is_video:
            self._leader = output
        return track

    def add_audio(self, template: av.audio.stream.AudioStream, *, bandwidth: int | None = None) -> AudioTrackId:
        track = AudioTrackId()
        output = self._add(track, track.rendition, template, bandwidth)
        if self._leader is None:
            self._leader = output
        return track

    def _add(
        self, track: TrackId, name: str, template: av.stream.Stream, bandwidth: int | None, listed: bool = True
    ) -> TrackOutput:
        if track in self._tracks:
            raise ValueError(f"track {name!r} already added")
        if self._timeline.started:
            raise RuntimeError("add every track before the first mux()")
        span = self.config.span if listed else WindowSpan(UNLISTED_SEGMENTS)
        output = TrackOutput(name, template, self.config.out_dir, self.config.part_target, span, bandwidth)
        output.listed = listed
        output.make_room = lambda: self._make_room()
        if self.config.resume is not None:
            output.resume(self.config.resume)
            output.carry(self.config.resume.carried.get(name, []))
        self._tracks[track] = output
        return output

    # -- packets -----------------------------------------------------------------------

    def mux(self, track: TrackId, packet: av.Packet[Any]) -> None:
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
            new_generation = self._decisions.leader_video_sample(sample)  # decides the sample
            if new_generation:
                self._mark_generation(sample.pts)
        if not output.is_video and output is not self._leader and not output.started:
            self._audio_hold.hold(output, frame, sample)
        else:
            output.feed(frame, sample)
            if output is self._leader and self._audio_hold:
                self._audio_hold.release(self._audio_track())
        self._publish()

    def _prepare(self, output: TrackOutput, packet: av.Packet[Any]) -> tuple[Frame, PendingSample] | None:
        """The packager's own record of the packet on the shared timeline, or None to drop it
        (empty, no timestamps or time base, dts not increasing, or video before the track's first keyframe)."""
        if packet.size == 0:
            return None
        dts = packet.dts if packet.dts is not None else packet.pts
        pts = packet.pts if packet.pts is not None else dts
        if dts is None or pts is None:
            return None
        time_base = packet.time_base or output.stream_template.time_base
        if time_base is None:
            return None
        shift = self._timeline.shift(time_base, dts, pts)
        numerator, denominator = time_base.numerator, time_base.denominator
        sample = PendingSample(
            (pts - shift) * numerator / denominator,
            (dts - shift) * numerator / denominator,
            packet.is_keyframe,
            self._clock(),
        )
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

    def _frame(
        self, packet: av.Packet[Any], output: TrackOutput, pts: int, dts: int, time_base: tuple[int, int]
    ) -> Frame:
        """The bytes (a copy: the caller keeps its packet) with shifted timestamps; a missing
        duration is the previous dts step."""
        if output.last_dts is not None and dts > output.last_dts:
            output.last_duration = dts - output.last_dts
        output.last_dts = dts
        return Frame(bytes(packet), pts, dts, packet.duration or output.last_duration, time_base, packet.is_keyframe)

    def _audio_track(self) -> TrackOutput:
        return next(t for t in self._tracks.values() if not t.is_video)

    # -- placing decided frames into parts and segments --------------------------------

    def _publish(self) -> None:
        """Move every frame whose fate is known from the muxer's output into parts/segments.

        A frame's fragment is placed once it is known whether it starts a segment and whether
        the next frame does (then the part and the segment end with it).
        """
        for output in self._ordered_tracks():
            leader = output is self._leader
            while output.fragments:
                fragment = output.fragments[0]
                if fragment.sample_count != 1:
                    raise RuntimeError(f"{output.name}: expected one sample per fragment")
                head = output.samples[0]
                following = output.samples[1] if len(output.samples) > 1 else None
                if following is None and not output.flushed:
                    break
                if not self._decisions.decide(output, head, leader=leader) or (
                    following is not None and not self._decisions.decide(output, following, leader=leader)
                ):
                    break
                output.samples.popleft()
                output.fragments.popleft()
                self._place_frame(output, fragment, head, following)

    def _live_tracks(self) -> list[TrackOutput]:
        return [t for t in self._tracks.values() if not t.retired]

    def _listed_tracks(self) -> list[TrackOutput]:
        """What the playlists, the master and the MPD list."""
        return [t for t in self._tracks.values() if not t.retired and t.listed]

    def _ordered_tracks(self) -> list[TrackOutput]:
        others = [t for t in self._live_tracks() if t is not self._leader]
        return ([self._leader] if self._leader else []) + others

    def _place_frame(
        self, output: TrackOutput, fragment: Fragment, head: PendingSample, following: PendingSample | None
    ) -> None:
        due = output.generation_from
        if due is not None and head.starts_segment and head.pts >= due - BOUNDARY_TOLERANCE:
            output.generation_from = None
            output.start_generation()
        if output.new_init:
            output.new_init = False
            self._publisher.new_init(output)
        if head.starts_segment or output.window.current is None:
            assert output.info is not None
            start = fragment.base_decode_time + round((head.pts - head.dts) * output.info.timescale)
            _, adopted = output.open_segment(start, self._timeline.wall_clock(head.pts))
            if adopted:  # a crashed predecessor's window goes on: its files are this worker's now
                self._publisher.carried(adopted)
            if output is self._leader:
                self._publisher.leader_segment(output, head)
        if output.part_fragments and not output.fits(fragment.duration):
            self._publisher.part(output, ends_segment=False)  # it waited for this frame, which is too long
        output.add_to_part(fragment, head.received)
        ends_segment = following is None or bool(following.starts_segment)
        if ends_segment or output.part_is_full():
            self._publisher.part(output, ends_segment)

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
        end = (
            max((s.start + s.ticks) / s.timescale for t in self._tracks.values() for s in t.window.segments[-1:])
            if any(t.window.segments for t in self._tracks.values())
            else None
        )
        self._decisions.reset()
        self._audio_hold.clear()
        self._publisher.reopen_master()
        self._timeline.continue_after(end)
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
        self._decisions.new_generation()  # the next keyframe starts a segment
        self._publisher.reopen_master()
        return True

    def _mark_generation(self, boundary: float) -> None:
        """The leader's format change takes effect at `boundary`: every other track opens
        its segment from there in the next generation."""
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
            self._publisher.media_playlist(output)
        self._publisher.reopen_master()
        self._publisher.master()
        self._publisher.mpd()

    def set_dvr(self, dvr_seconds: float | None) -> None:
        """The DVR window changed while live (None: DVR off): shrinking unlists and deletes at
        once, growing keeps what is listed and lets the window fill."""
        self.config.span.dvr_seconds = dvr_seconds
        self._publisher.retrim(restart=False)

    def shrink_for_space(self) -> bool:
        """The disk is full: halve the DVR window (not below the live window) and delete what
        left it, and what was kept for a grace after leaving it. False when nothing was left
        to delete."""
        span = self.config.span
        listed = max(
            (sum(s.duration for s in t.window.segments if s.complete) for t in self._listed_tracks()), default=0.0
        )
        smaller = shrunk_window(listed, span.live_segments * self.config.segment_target) if span.dvr_seconds else None
        if smaller is not None:
            log.warning(
                "disk full under %s: the DVR window shrinks from %.0f s to %.0f s to free space",
                self.config.out_dir,
                listed,
                smaller,
            )
            span.dvr_seconds = smaller
        return self._publisher.retrim(restart=False, release=True) or smaller is not None

    def clear_dvr(self) -> None:
        """Restart the DVR window at the live edge (clear_dvr): the short live window stays
        listed, so players at the live edge play on; the rest is unlisted and deleted."""
        self._publisher.retrim(restart=True)

    def close(self) -> None:
        """Flush the last fragments, end the playlists (EXT-X-ENDLIST) and the MPD (static)."""
        if self._closed:
            return
        self._flush_all()
        self._closed = self._publisher.ended = True
        for output in self._listed_tracks():
            if output.window.segments:
                self._publisher.media_playlist(output)
        self._publisher.master()
        self._publisher.mpd()
        self._publisher.closed()

    def _flush_all(self) -> None:
        for output in self._live_tracks():
            output.flush()
        self._decisions.leader_done = True
        self._publish()
