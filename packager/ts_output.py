"""Legacy HLS over MPEG-TS for older players: passthrough of encoded packets into .ts segments.

Each rendition writes its own transport stream (`packager.ts_mux`): frames are converted to what
TS carries (`packager.annexb`, `packager.adts`) and written into the current segment's buffer.
The caller chooses the keyframes (`segment_start=True`) so the TS segments begin where the CMAF
ones do; at such a keyframe the finished segment is written out and the next one opens with
PAT + PMT, so no output has to be parsed to find the cut.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.stream
from av.packet import PacketSideData

from packager.adts import AdtsFramer
from packager.annexb import AnnexBFramer
from packager.atomic import remove_quietly, write_atomic, write_new
from packager.disk_full import MakeRoom, no_room, write_with_room
from packager.ts_mux import ElementaryStream, TsMuxer, TsMuxError
from packager.ts_packet import PTS_CLOCK_HZ
from packager.ts_playlist import (
    MEDIA_PLAYLIST_NAME,
    TsMediaPlaylist,
    TsSegment,
    TsVariant,
    write_ts_master,
)
from packager.window import WindowSpan

__all__ = ["TsRendition", "TsSegment", "TsVariant", "write_ts_master"]

LOG = logging.getLogger(__name__)

FIRST_ELEMENTARY_PID = 0x100  # stream i gets PID 0x100 + i, as FFmpeg's mpegts muxer numbers them
# Output timestamps are the input's plus 1.4 s, as FFmpeg's mpegts muxer shifts them (2 × its
# default max_delay): B-frame streams start with a negative DTS, and the PCR runs behind the DTS.
TIMESTAMP_OFFSET = 126_000
AUDIO_ONLY_SEGMENT_SECONDS = 2.0
VIDEO_STREAM_ID = 0xE0
AUDIO_STREAM_ID = 0xC0
STREAM_TYPES = {"h264": 0x1B, "hevc": 0x24, "aac": 0x0F, "mp3": 0x03, "mp2": 0x03}


class TsRendition:
    """One rendition's TS segments (video + audio) and their playlist.

    Segment starts: only a video keyframe passed with `segment_start=True` begins a segment;
    other keyframes (GOPs shorter than the segment target) do not. A rendition without video is
    cut by time: before the first audio frame at least 2 s after the segment began
    (`segment_start` is then ignored, since audio has no keyframes to align to).

    Packets: `mux()` only reads the caller's packet (data, timestamps, keyframe flag, new
    extradata side data), so the same packet can go to the CMAF packager before or after.

    Decode timestamps must rise per stream; a packet whose timestamps do not is left out and
    counted in `dropped_packets`.

    After a source switch, call `discontinuity()` before the first packet of the new source; if
    the codec parameters or the timestamps change (another publisher), close this one with
    `close(endlist=False)` and build a new TsRendition with `follows=` it: the new one takes
    over the playlist (same window, sequence numbers going on) and marks its first segment
    with #EXT-X-DISCONTINUITY, since the parameter sets come from the templates given to
    `add_stream`.
    """

    def __init__(
        self,
        out_dir: Path,
        rendition: str,
        on_event: Callable[[dict[str, Any]], None],
        *,
        window_segments: WindowSpan | int = 8,
        start_sequence: int = 0,
        discontinuity_sequence: int = 0,
        follows: TsRendition | None = None,
        carried: Sequence[dict[str, Any]] = (),
        remove: Callable[[Path], object] = remove_quietly,
        write: Callable[[Path, bytes | str], None] = write_atomic,
        make_room: MakeRoom = no_room,
    ):
        """`carried`: a crashed predecessor's last window ("ts_segment" events), listed on
        before this rendition's segments (see packager/resume.py)."""
        self._out_dir = Path(out_dir)
        self._rendition = rendition
        self._on_event = on_event
        self._remove = remove  # a worker passes its `FileThread`'s: off this thread
        self._write = write
        self._make_room = make_room  # a full disk: what frees space (the stream's DVR window)
        self._dir = self._out_dir / rendition
        self._dir.mkdir(parents=True, exist_ok=True)
        self._playlist = TsMediaPlaylist(window_segments, start_sequence, discontinuity_sequence)
        if carried:
            first = carried[0]
            self._playlist = TsMediaPlaylist(
                window_segments, first["sequence"], first["discontinuity_sequence"] - first["discontinuity"]
            )
            for event in carried:
                self._playlist.add(
                    TsSegment(event["sequence"], event["path"], event["duration"], event["discontinuity"])
                )
        self._next_sequence = start_sequence
        self._retired: list[tuple[float, TsSegment]] = []  # (deletable from media time, segment)
        self._media_time = 0.0
        self._tracks: list[_Track | None] = []  # None: a codec left out of the TS
        self._lead_index: int | None = None
        self._discontinuity_pending = False
        self._lead_frame_seconds = 0.0
        self.dropped_packets = 0  # packets whose timestamps TS cannot carry (see mux)
        if follows is not None:  # same playlist, numbering and deletion schedule
            self._playlist = follows._playlist
            self._playlist.ended = False
            self._next_sequence = follows._next_sequence
            self._retired = follows._retired
            self._media_time = follows._media_time
            self._discontinuity_pending = True
        self._muxer: TsMuxer | None = None
        self._segment = _OpenSegment()

    def add_stream(self, template: av.stream.Stream) -> int:
        """Add an output stream with `template`'s codec; return its index for `mux`.

        A codec this muxer does not write (only H.264, HEVC, AAC and MPEG audio) is left out of
        the TS with a warning, its packets ignored: the CMAF output still has it, and a
        publisher's odd audio should not take the stream down.
        """
        if self._muxer is not None:
            raise RuntimeError("add every stream before the first mux()")
        index = len(self._tracks)
        same_kind = sum(1 for t in self._tracks if t is not None and t.kind == template.type)
        track = _Track.of(template, FIRST_ELEMENTARY_PID + index, same_kind)
        self._tracks.append(track)
        if track is None:
            LOG.warning(
                "%s: MPEG-TS output leaves out the %s stream (%s)",
                self._rendition,
                template.type,
                template.codec_context.name,
            )
            return index
        lead = None if self._lead_index is None else self._tracks[self._lead_index]
        if (track.kind == "video" and (lead is None or lead.kind != "video")) or (
            lead is None and track.kind == "audio"
        ):
            self._lead_index = index
        return index

    def parameter_sets_changed(self, index: int, extradata: bytes) -> None:
        """Stream `index` changed format in-band (a new SPS at a keyframe): its later
        keyframes without parameter sets of their own get these (avcC or Annex B)."""
        track = self._tracks[index]
        if track is not None and track.video is not None:
            track.video.set_extradata(extradata)

    def discontinuity(self) -> None:
        """Mark the next segment with #EXT-X-DISCONTINUITY (e.g. the source switched)."""
        self._discontinuity_pending = True

    def mux(self, index: int, packet: av.Packet[Any], *, segment_start: bool = False) -> None:
        """Write `packet` into output stream `index` (see the class docstring).

        `segment_start` counts only on a keyframe of the video stream; elsewhere it is ignored.
        """
        track = self._tracks[index]
        if packet.size == 0 or track is None:
            return  # nothing to write (an empty keyframe would leave no PES to cut at), or left out
        if self._muxer is None:
            self._muxer = self._start_muxer()
        time_base = packet.time_base or track.time_base
        keyframe = packet.is_keyframe
        try:
            pts, dts = track.timestamps(packet, time_base)
        except TsMuxError as error:  # left out, as the CMAF packager leaves it out
            self.dropped_packets += 1
            if self.dropped_packets == 1:
                LOG.warning("%s TS: %s; such packets are left out", self._rendition, error)
            return
        lead = index == self._lead_index
        if lead:
            self._lead_frame_seconds = _seconds(packet.duration, time_base) or self._lead_frame_seconds
            self._consider_cut(track, pts, segment_start and keyframe)
        segment, muxer = self._segment, self._muxer
        if not segment.data:
            muxer.write_tables(segment.data)
        payload = track.payload(packet, keyframe)
        muxer.write_pes(
            segment.data, track.stream, payload, pts + TIMESTAMP_OFFSET, dts + TIMESTAMP_OFFSET, random_access=keyframe
        )
        segment.add(pts, lead)

    def close(self, *, endlist: bool) -> None:
        """Write the last segment and the final playlist (#EXT-X-ENDLIST if endlist)."""
        segment = self._segment
        self._segment = _OpenSegment()
        if segment.first_pts is not None:
            duration = segment.span_seconds() + self._lead_frame_seconds
            self._publish(segment, duration, ended=endlist)
            return
        self._playlist.ended = endlist
        self._write_playlist()

    @property
    def playlist(self) -> TsMediaPlaylist:
        return self._playlist

    def _start_muxer(self) -> TsMuxer:
        if self._lead_index is None:
            raise RuntimeError("add_stream() a video or audio stream before mux()")
        streams = [track.stream for track in self._tracks if track is not None]
        return TsMuxer(streams, FIRST_ELEMENTARY_PID + self._lead_index)

    def _consider_cut(self, lead: _Track, pts: int, flagged_keyframe: bool) -> None:
        """Close the segment before this lead frame if it starts a new one.

        Video: a flagged keyframe; if the segment holds no video yet, it opens this one instead
        (and takes the pending discontinuity). Audio only: the first frame 2 s after the start.
        """
        segment = self._segment
        if lead.kind == "video":
            if not flagged_keyframe:
                return
            if segment.lead_first_pts is None:
                segment.discontinuity = self._take_discontinuity() or segment.discontinuity
                return
        elif segment.lead_first_pts is None:
            segment.discontinuity = self._take_discontinuity()
            return
        elif (pts - segment.lead_first_pts) / PTS_CLOCK_HZ < AUDIO_ONLY_SEGMENT_SECONDS:
            return
        self._segment = _OpenSegment(discontinuity=self._take_discontinuity())
        self._publish(segment, (pts - segment.lead_first_pts) / PTS_CLOCK_HZ, ended=False)

    def _take_discontinuity(self) -> bool:
        pending, self._discontinuity_pending = self._discontinuity_pending, False
        return pending

    def _publish(self, finished: _OpenSegment, duration: float, *, ended: bool) -> None:
        sequence = self._next_sequence
        self._next_sequence += 1
        name = f"ts_{sequence}.ts"
        segment = TsSegment(
            sequence=sequence,
            path=f"{self._rendition}/{name}",
            duration=round(duration, 3),
            discontinuity=finished.discontinuity,
        )
        path = self._dir / name  # announced by the event below, never rewritten
        write_with_room(lambda: write_new(path, bytes(finished.data)), self._make_room)
        self._on_event(
            {
                "event": "ts_segment",
                "rendition": self._rendition,
                "sequence": sequence,
                "path": segment.path,
                "duration": segment.duration,
                "discontinuity": segment.discontinuity,
                "discontinuity_sequence": self._playlist.discontinuities + segment.discontinuity,
            }
        )
        keep = self._playlist.live_duration + segment.duration  # the longest playlist that listed it
        self._media_time += segment.duration
        self._retire(self._playlist.add(segment), keep)
        self._playlist.ended = ended
        self._write_playlist()
        self._delete_expired()

    def retrim(self, restart: bool = False) -> None:
        """Apply the window's span now (a changed DVR window; `restart`: clear_dvr)."""
        slid_out = self._playlist.trim(restart)
        if slid_out and not self._playlist.ended:
            self._retire(slid_out, self._playlist.live_duration)
            self._write_playlist()
            self._delete_expired()

    def release(self) -> bool:
        """A full disk: apply the (shrunk) span now and delete what left the playlist without
        its grace. Whether a file was deleted."""
        slid_out = self._playlist.trim()
        if slid_out and not self._playlist.ended:
            self._write_playlist()
        expired = [old for _, old in self._retired] + slid_out
        self._retired = []
        for old in expired:
            self._remove(self._out_dir / old.path)
        if expired:
            self._on_event({"event": "removed", "paths": [old.path for old in expired]})
        return bool(expired)

    def _retire(self, slid_out: list[TsSegment], keep: float) -> None:
        """RFC 8216 6.2.2: a removed segment stays available for its duration plus the
        duration of the playlist that contained it (`keep`); with DVR that of the short live
        window (see `packager.window`: a player reloads at least every target duration)."""
        for old in slid_out:
            self._retired.append((self._media_time + old.duration + keep, old))

    def _write_playlist(self) -> None:
        text = self._playlist.render()
        self._write(self._dir / MEDIA_PLAYLIST_NAME, text)
        self._on_event(
            {
                "event": "ts_playlist",
                "rendition": self._rendition,
                "path": f"{self._rendition}/{MEDIA_PLAYLIST_NAME}",
                "text": text,
            }
        )

    def _delete_expired(self) -> None:
        expired = [old for deadline, old in self._retired if deadline <= self._media_time + 1e-6]
        if not expired:
            return
        self._retired = [(d, old) for d, old in self._retired if d > self._media_time + 1e-6]
        for old in expired:
            self._remove(self._out_dir / old.path)
        self._on_event({"event": "removed", "paths": [old.path for old in expired]})


class _OpenSegment:
    """The segment being written: its bytes and the PTS span (input 90 kHz ticks, unwrapped)."""

    def __init__(self, *, discontinuity: bool = False) -> None:
        self.data = bytearray()
        self.discontinuity = discontinuity
        self.first_pts: int | None = None  # of any stream
        self.last_pts: int | None = None
        self.lead_first_pts: int | None = None
        self.lead_last_pts: int | None = None

    def add(self, pts: int, lead: bool) -> None:
        if lead:
            if self.lead_first_pts is None or self.lead_last_pts is None:
                self.lead_first_pts = self.lead_last_pts = pts
            elif pts > self.lead_last_pts:
                self.lead_last_pts = pts
        if self.first_pts is None or self.last_pts is None:
            self.first_pts = self.last_pts = pts
        elif pts > self.last_pts:
            self.last_pts = pts

    def span_seconds(self) -> float:
        """From the first to the highest PTS, of the lead stream if it has any here."""
        if self.lead_first_pts is not None and self.lead_last_pts is not None:
            return (self.lead_last_pts - self.lead_first_pts) / PTS_CLOCK_HZ
        if self.first_pts is not None and self.last_pts is not None:
            return (self.last_pts - self.first_pts) / PTS_CLOCK_HZ
        return 0.0


@dataclass
class _Track:
    """One output stream: its TS identity, clock and the conversion its frames need."""

    kind: str
    stream: ElementaryStream
    time_base: Fraction
    video: AnnexBFramer | None = None  # H.264 / HEVC
    adts: AdtsFramer | None = None  # AAC (MPEG audio is self-framed already)
    last_dts: int | None = None

    @classmethod
    def of(cls, template: av.stream.Stream, pid: int, same_kind_before: int) -> _Track | None:
        """The track for `template`, or None if its codec is not one this muxer writes."""
        context = template.codec_context
        codec = context.codec.canonical_name  # "h264" also for a libx264 template
        if codec not in STREAM_TYPES or template.type not in ("video", "audio"):
            return None
        extradata = bytes(context.extradata or b"")
        time_base = Fraction(template.time_base or Fraction(1, PTS_CLOCK_HZ))
        if template.type == "video":
            stream = ElementaryStream(pid, STREAM_TYPES[codec], VIDEO_STREAM_ID + same_kind_before)
            return cls("video", stream, time_base, video=AnnexBFramer(codec, extradata))
        stream = ElementaryStream(pid, STREAM_TYPES[codec], AUDIO_STREAM_ID + same_kind_before)
        adts = None
        if codec == "aac":
            layout = getattr(context, "layout", None)
            adts = AdtsFramer(extradata, getattr(context, "sample_rate", None), getattr(layout, "nb_channels", None))
        return cls("audio", stream, time_base, adts=adts)

    def timestamps(self, packet: av.Packet[Any], time_base: Fraction) -> tuple[int, int]:
        """(pts, dts) in 90 kHz ticks, not yet wrapped; raises TsMuxError if the DTS does not rise."""
        pts = packet.pts if packet.pts is not None else packet.dts
        dts = packet.dts if packet.dts is not None else pts
        if pts is None or dts is None:
            raise TsMuxError("packet without timestamps")
        pts, dts = _to_90k(pts, time_base), _to_90k(dts, time_base)
        if self.last_dts is not None and dts <= self.last_dts:
            raise TsMuxError(f"dts {dts} does not rise after {self.last_dts} (90 kHz, pid {self.stream.pid:#x})")
        if pts < dts:
            raise TsMuxError(f"pts {pts} before dts {dts} (90 kHz, pid {self.stream.pid:#x})")
        self.last_dts = dts
        return pts, dts

    def payload(self, packet: av.Packet[Any], keyframe: bool) -> bytes:
        """The frame as TS carries it; new parameter sets in the side data are taken first."""
        data = bytes(packet)
        if self.video is not None:
            if packet.has_sidedata("new_extradata"):
                self.video.set_extradata(bytes(PacketSideData.from_packet(packet, "new_extradata")))
            return self.video.access_unit(data, keyframe)
        if self.adts is not None:
            return self.adts.frame(data)
        return data


def _to_90k(value: int, time_base: Fraction) -> int:
    """value × time_base in 90 kHz ticks, rounded half up (exact for 1/1000, 1/90000, …)."""
    numerator = time_base.numerator * PTS_CLOCK_HZ
    denominator = time_base.denominator
    if numerator % denominator == 0:
        return value * (numerator // denominator)
    return (2 * value * numerator + denominator) // (2 * denominator)


def _seconds(ticks: int | None, time_base: Fraction) -> float:
    if ticks and time_base:
        return ticks * time_base.numerator / time_base.denominator
    return 0.0
