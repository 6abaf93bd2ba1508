"""Publishing what a `LiveOutput`'s tracks made: events for every init segment, part and segment,
the LL-HLS media playlists, the master playlist and the DASH MPD, and the deletion of what left
the window.

Why apart from the segment decisions: what is published, in which order (a part, then the
playlist that lists it; a playlist that stops listing a segment, then its deletion) and what
every MPD must keep from the ones before (`availabilityStartTime`, each Period's clock) are
rules of their own, the same whatever decided the segments.

Every event is a dict with an `event` key (`init`, `carried`, `part`, `segment`, `playlist`,
`removed`, `master`, `mpd`, `ended`), handed to `emit`: the worker turns them into the
node's typed events. Playlists are reported as text (the node serves it) and written to disk
with `write` (a worker passes its file thread's: off the packaging thread).

A DASH Period's start is fixed when it first appears in the MPD (`dash.PeriodClock`) and kept
until its last segment leaves the window; for a Period's first leader sample its arrival is the
MPD's ProducerReferenceTime.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packager import manifests
from packager.dash import PeriodClock
from packager.media_timeline import MediaTimeline
from packager.playlist_text import MediaPlaylistText
from packager.resume import Timeline
from packager.track import PendingSample, TrackOutput
from packager.window import Expired, Segment

if TYPE_CHECKING:
    from packager.live import PackagerConfig

Event = dict[str, Any]


class LivePublisher:
    def __init__(
        self,
        config: PackagerConfig,
        emit: Callable[[Event], None],
        clock: Callable[[], float],
        timeline: MediaTimeline,
        tracks: Callable[[], list[TrackOutput]],
        leader: Callable[[], TrackOutput | None],
        remove: Callable[[Path], object],
        write: Callable[[Path, bytes | str], None],
    ) -> None:
        """`tracks` gives the listed (not retired, not unlisted) tracks in the order they were
        added, `leader` the track that decides the segments (which may be an unlisted one)."""
        self.config = config
        self._emit = emit
        self._clock = clock
        self._timeline = timeline
        self._tracks = tracks
        self._leader = leader
        self._remove = remove
        self._write = write
        self.ended = False  # the output is closed: playlists end, the MPD turns static
        self._master_text: str | None = None
        self._master_final = False
        self._stream_start: float | None = None
        self._availability_start: float | None = None
        self._playlists: dict[str, MediaPlaylistText] = {}  # by track: what the node was sent
        self._period_clocks: dict[str, PeriodClock] = {}  # by init segment name: fixed once listed
        self._period_references: dict[str, tuple[float, float]] = {}  # (media s, received) of its first leader sample
        resumed = config.resume.timeline if config.resume else None
        if resumed is not None:  # the MPD keeps its clock
            self._resume_clock(resumed)

    def _resume_clock(self, resumed: Timeline) -> None:
        self._stream_start = resumed.stream_start
        self._availability_start = resumed.availability_start
        self._period_clocks = {name: PeriodClock(*values) for name, values in resumed.periods.items()}

    # -- what the tracks made --------------------------------------------------------------
    def new_init(self, output: TrackOutput) -> None:
        self._emit(
            {"event": "init", "rendition": output.name, "path": output.init_path, "generation": output.init_generation}
        )

    def carried(self, paths: list[str]) -> None:
        """A crashed predecessor's window goes on: its files are this worker's now."""
        self._emit({"event": "carried", "paths": paths})

    def leader_segment(self, output: TrackOutput, head: PendingSample) -> None:
        """The leader opened a segment: the MPD's zero and its Period's reference come from it."""
        assert output.init_path is not None  # its fragments came from its init segment's muxer
        if self._stream_start is None:
            self._stream_start = head.pts
        self._period_references.setdefault(posixpath.basename(output.init_path), (head.pts, head.received))

    def part(self, output: TrackOutput, ends_segment: bool) -> None:
        """Write the track's part; announce it, then the segment it ends, the playlists, the MPD."""
        part = output.write_part()
        segment = output.window.current
        assert segment is not None
        self._emit(
            {
                "event": "part",
                "rendition": output.name,
                "msn": part.msn,
                "part": part.index,
                "path": part.path,
                "duration": part.duration,
                "independent": part.independent,
                "file": segment.path,
                "offset": part.offset,
                "size": part.size,
                "discontinuity_sequence": output.discontinuity_sequence,
            }
        )
        if ends_segment:
            output.complete_segment()
            self._emit(segment_event(output.name, segment, output.discontinuity_sequence))
        expired = output.window.trim(output.target_duration) if ends_segment else Expired()
        if not output.listed:  # nothing lists it, nobody is told its files go
            self._delete(expired, announce=False)
            return
        self.media_playlist(output, to_disk=ends_segment)
        self._delete(expired)
        self.master()
        if ends_segment:
            self.mpd()

    def retrim(self, restart: bool, release: bool = False) -> bool:
        """Apply the window's span to every track now (a changed DVR window, `restart`:
        clear_dvr): the playlists that stop listing segments, their deletion, the MPD.
        `release` (a full disk): the unlisted segments kept for a grace go too. Whether a
        file was deleted."""
        if self.ended:
            return False
        deleted = False
        for output in self._tracks():
            listed = len(output.window.segments)
            expired = output.window.trim(output.target_duration, restart)
            if release:
                released = output.window.release_retired()
                expired.segments += released.segments
                expired.parts += released.parts
            if len(output.window.segments) != listed:
                self.media_playlist(output)
            self._delete(expired)
            deleted |= bool(expired.segments)
        self.mpd()
        return deleted

    def closed(self) -> None:
        self._emit({"event": "ended"})

    # -- files and manifests -----------------------------------------------------------------
    def media_playlist(self, output: TrackOutput, to_disk: bool = True) -> None:
        """Report the playlist as an update (`playlist_text`: the segments settled since the
        last one and the tail, so a part costs the same whatever the window; the node keeps
        the text). Its on-disk copy is rewritten only when a segment completes: nobody can play
        LL-HLS parts from disk (they are byte ranges the node serves), and every rewrite costs
        the worker's file thread — per part, half of all its writes."""
        others = [t for t in self._tracks() if t is not output]
        kept = self._playlists.get(output.name)
        if kept is None:
            kept = self._playlists[output.name] = MediaPlaylistText()
        update = manifests.media_playlist_update(
            output, others, self.config.part_target, self.ended or output.retired, kept.last_msn
        )
        update.fresh = not kept.header  # its first: the node forgets another worker's entries
        kept.update(update)
        path = f"{output.name}/index.m3u8"
        if to_disk:
            self._write(self.config.out_dir / path, kept.full())
        last = output.window.last_part
        self._emit(
            {
                "event": "playlist",
                "rendition": output.name,
                "path": path,
                "msn": last.msn if last else -1,
                "part": last.index if last else -1,
                **update.plain(),
            }
        )

    def _delete(self, expired: Expired, announce: bool = True) -> None:
        """Delete the segment files the window let go and stop serving its expired parts
        (after the playlist that stopped listing them)."""
        for path in expired.segments:
            self._remove(self.config.out_dir / path)
        if announce and expired.paths:
            self._emit({"event": "removed", "paths": expired.paths})

    def reopen_master(self) -> None:
        """The variants changed (a format change, a rendition retired, a discontinuity): the
        master is measured and written again."""
        self._master_final = False

    def master(self) -> None:
        """Write the master once codecs are known; refine measured bandwidths until the
        leader has completed MASTER_MEASURED_SEGMENTS segments, then leave it alone."""
        tracks = self._tracks()
        if self._master_final or not manifests.master_ready(tracks):
            return
        text = manifests.master_playlist(tracks)
        leader = self._leader()
        if leader is not None and leader.segments_completed >= manifests.MASTER_MEASURED_SEGMENTS:
            self._master_final = True
        if text != self._master_text:
            self._master_text = text
            self._write(self.config.out_dir / "master.m3u8", text)
            self._emit({"event": "master", "path": "master.m3u8", "text": text})

    def mpd(self) -> None:
        tracks = self._tracks()
        if self._stream_start is None or self._timeline.anchor is None:
            return
        if not all(any(s.complete and s.init_path == t.init_path for s in t.window.segments) for t in tracks):
            return  # (a carried window alone: the segment being written is not in its Period)
        self._fix_period_clocks(tracks)
        if self._availability_start is None:  # fixed for the life of the MPD
            # the zero of the MPD timeline: no Period may start before it
            self._stream_start = min([self._stream_start] + [c.start for c in self._period_clocks.values()])
            self._availability_start = self._timeline.wall_clock(self._stream_start)
        text = manifests.mpd(
            tracks,
            self.config,
            availability_start=self._availability_start,
            publish_time=self._clock(),
            stream_start=self._stream_start,
            periods=self._period_clocks,
            ended=self.ended,
        )
        self._write(self.config.out_dir / "index.mpd", text)
        self._emit(
            {
                "event": "mpd",
                "path": "index.mpd",
                "text": text,
                "availability_start": self._availability_start,
                "stream_start": self._stream_start,
                "media_end": _announced_end(tracks),
                "periods": {name: list(astuple(clock)) for name, clock in self._period_clocks.items()},
            }
        )

    def _fix_period_clocks(self, tracks: list[TrackOutput]) -> None:
        """Give each Period that appears for the first time its clock, kept from then on: its
        start is the earliest start of its tracks' first segments (the MPD is only written
        once every track has a complete segment in the newest Period). Forget the Periods
        that left the window."""
        starts: dict[str, float] = {}
        walls: dict[str, tuple[float, float]] = {}
        for track in tracks:
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


def _announced_end(tracks: list[TrackOutput]) -> float:
    """Media seconds where the MPD's timelines end (complete segments only): a next
    worker's Period starts after it."""
    ends = [0.0]
    for track in tracks:
        complete = [s for s in track.window.segments if s.complete]
        if complete:
            last = complete[-1]
            ends.append((last.start + last.ticks) / last.timescale)
    return max(ends)


def segment_event(rendition: str, segment: Segment, discontinuity_sequence: int) -> Event:
    """A complete segment, with what a worker that follows a crash needs to list it on
    (`packager/resume.py`, `track.carried_segment`)."""
    return {
        "event": "segment",
        "rendition": rendition,
        "msn": segment.msn,
        "path": segment.path,
        "duration": segment.duration,
        "init": segment.init_path,
        "start": segment.start,
        "ticks": segment.ticks,
        "timescale": segment.timescale,
        "size": segment.size,
        "wall_clock": segment.wall_clock,
        "discontinuity": segment.discontinuity,
        "discontinuity_sequence": discontinuity_sequence,
    }
