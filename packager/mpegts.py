"""Legacy HLS over MPEG-TS for older players: passthrough of encoded packets into .ts segments.

One continuous `mpegts` muxer per rendition writes into a TsCutter; the cutter splits the
muxer's output into segment files at the PAT in front of a segment-start keyframe. The caller
chooses the keyframes (`segment_start=True`) so the TS segments begin where the CMAF ones do.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.stream

from packager.atomic import write_new
from packager.ts_cutter import CutSegment, SegmentStart, TsCutter
from packager.ts_packet import PTS_CLOCK_HZ, PTS_MODULUS, pts_delta
from packager.ts_playlist import (
    MEDIA_PLAYLIST_NAME,
    TsMediaPlaylist,
    TsSegment,
    TsVariant,
    write_atomically,
    write_ts_master,
)

__all__ = ["TsRendition", "TsSegment", "TsVariant", "write_ts_master"]

FIRST_ELEMENTARY_PID = 0x100  # FFmpeg's mpegts_start_pid: stream i gets PID 0x100 + i
MUXER_OPTIONS = {
    # The interleaver would hold output up to 10 s when a stream goes quiet; cuts and events
    # should follow the input closely.
    "max_interleave_delta": "100000",
    # Hand every packet to the cutter at once, not in AVIO-buffer blocks. FFmpeg's default
    # (auto) already does so for our non-seekable sink (measured); say it rather than rely on it.
    "flush_packets": "1",
}
PTS_MATCH_TICKS = 2  # rounding slack when matching output PTS to input PTS (90 kHz)
AUDIO_ONLY_SEGMENT_SECONDS = 2.0
AUDIO_ONLY_FORCED_CUT_SLACK = 1.0  # cut even without a fresh PAT once this late


class TsRendition:
    """One continuous mpegts muxer per rendition (video + audio) and a cutter on its output.

    Segment starts: only a video keyframe passed with `segment_start=True` begins a segment;
    other keyframes (GOPs shorter than the segment target) do not. A rendition without video is
    cut by time: at the first PAT/audio PES boundary at least 2 s after the segment began
    (`segment_start` is then ignored, since audio has no keyframes to align to).

    Packets: `mux()` never changes the caller's packet. PyAV's `OutputContainer.mux` rebases the
    packet's pts/dts/time_base in place, takes its stream index, and may keep a reference while
    the interleaver holds it; so each packet is copied (data, pts, dts, duration, time_base,
    keyframe flag, side data) and the copy is muxed. The same packet object can therefore be muxed into
    another container (the CMAF muxer) before or after this one.

    Timestamps must keep rising per stream (the muxer rejects a dts going back). After a source
    switch, call `discontinuity()` before the first packet of the new source; if the codec
    parameters or the timestamps change (another publisher), close this one with
    `close(endlist=False)` and build a new TsRendition with `follows=` it: the new one takes
    over the playlist (same window, sequence numbers going on) and marks its first segment
    with #EXT-X-DISCONTINUITY, since the in-band parameter sets come from the templates
    given to `add_stream`.
    """

    def __init__(
        self,
        out_dir: Path,
        rendition: str,
        on_event: Callable[[dict], None],
        *,
        window_segments: int = 8,
        start_sequence: int = 0,
        follows: TsRendition | None = None,
    ):
        self._out_dir = Path(out_dir)
        self._rendition = rendition
        self._on_event = on_event
        self._dir = self._out_dir / rendition
        self._dir.mkdir(parents=True, exist_ok=True)
        self._playlist = TsMediaPlaylist(window_segments, start_sequence)
        self._next_sequence = start_sequence
        self._retired: list[tuple[float, TsSegment]] = []  # (deletable from media time, segment)
        self._media_time = 0.0
        self._streams: list[av.stream.Stream] = []
        self._lead_index: int | None = None
        self._keyframes: deque[_Keyframe] = deque()
        self._pts_offset: int | None = None  # output PES PTS minus input PTS, both 90 kHz
        self._discontinuity_pending = False
        self._lead_frame_seconds = 0.0
        self._audio_segment_pts: int | None = None
        if follows is not None:  # same playlist, numbering and deletion schedule
            self._playlist = follows._playlist
            self._playlist.ended = False
            self._next_sequence = follows._next_sequence
            self._retired = follows._retired
            self._media_time = follows._media_time
            self._discontinuity_pending = True
        self._muxing = False
        self._cutter: TsCutter | None = None
        self._sink = _CutterSink()
        self._container = av.open(
            self._sink, "w", format="mpegts", container_options=MUXER_OPTIONS
        )

    def add_stream(self, template: av.stream.Stream) -> int:
        """Add an output stream copying `template`'s codec parameters; return its index for `mux`."""
        if self._muxing:
            raise RuntimeError("add every stream before the first mux()")
        stream = self._container.add_stream_from_template(template)
        index = len(self._streams)
        self._streams.append(stream)
        if stream.type == "video" and (
            self._lead_index is None or self._streams[self._lead_index].type != "video"
        ):
            self._lead_index = index
        elif self._lead_index is None and stream.type == "audio":
            self._lead_index = index
        return index

    def discontinuity(self) -> None:
        """Mark the next segment with #EXT-X-DISCONTINUITY (e.g. the source switched)."""
        self._discontinuity_pending = True

    def mux(self, index: int, packet: av.Packet, *, segment_start: bool = False) -> None:
        """Mux a copy of `packet` into output stream `index` (see the class docstring).

        `segment_start` counts only on a keyframe of the video stream; elsewhere it is ignored.
        """
        if packet.size == 0:
            return  # nothing to write; an empty keyframe would leave no PES to cut at
        if self._cutter is None:
            self._start_cutter()
        self._muxing = True
        stream = self._streams[index]
        keyframe = None
        if index == self._lead_index and stream.type == "video" and packet.is_keyframe:
            keyframe = _Keyframe(_pts_90k(packet, stream), self._segment_start(segment_start))
            self._keyframes.append(keyframe)
        if index == self._lead_index:
            self._lead_frame_seconds = _packet_seconds(packet, stream) or self._lead_frame_seconds
        try:
            self._container.mux(_copy_packet(packet, stream))
        except Exception:
            if keyframe is not None and self._keyframes and self._keyframes[-1] is keyframe:
                self._keyframes.pop()  # the muxer refused it: no PES will come for it
            raise

    def close(self, *, endlist: bool) -> None:
        """Flush the muxer, write the last segment and the final playlist (#EXT-X-ENDLIST if endlist)."""
        if self._cutter is None:
            self._container = None  # never muxed: nothing to flush, no header to write
        else:
            self._container.close()
            last = self._cutter.finish()
            if last is not None:
                self._publish(last, self._last_duration(last), ended=endlist)
                return
        self._playlist.ended = endlist
        self._write_playlist()

    @property
    def playlist(self) -> TsMediaPlaylist:
        return self._playlist

    def _start_cutter(self) -> None:
        if self._lead_index is None:
            raise RuntimeError("add_stream() a video or audio stream before mux()")
        self._cutter = TsCutter(
            FIRST_ELEMENTARY_PID + self._lead_index, self._decide_cut, self._on_cut
        )
        self._sink.cutter = self._cutter

    def _segment_start(self, flagged: bool) -> SegmentStart | None:
        if not flagged:
            return None
        start = SegmentStart(discontinuity=self._discontinuity_pending)
        self._discontinuity_pending = False
        return start

    def _decide_cut(self, pts: int, follows_tables: bool) -> SegmentStart | None:
        if self._streams[self._lead_index].type == "video":
            return self._decide_video_cut(pts)
        return self._decide_audio_cut(pts, follows_tables)

    def _decide_video_cut(self, pts: int) -> SegmentStart | None:
        """Match a random-access PES in the output to the keyframe muxed for it.

        Keyframes come out in the order they went in, each as one PES with the random-access
        flag, their PTS shifted by the muxer's constant delay. The PTS check keeps the
        matching right should a keyframe ever vanish or appear unannounced.
        """
        while self._keyframes:
            keyframe = self._keyframes[0]
            if self._pts_offset is None:
                self._pts_offset = pts_delta(pts, keyframe.pts)
            expected = (keyframe.pts + self._pts_offset) % PTS_MODULUS
            ahead = pts_delta(pts, expected)
            if ahead >= PTS_MODULUS // 2:
                ahead -= PTS_MODULUS
            if abs(ahead) <= PTS_MATCH_TICKS:
                self._keyframes.popleft()
                return keyframe.start
            if ahead < 0:
                return None  # this keyframe was never announced: not a segment start
            self._keyframes.popleft()  # announced but never written: forget it
        return None

    def _decide_audio_cut(self, pts: int, follows_tables: bool) -> SegmentStart | None:
        if self._audio_segment_pts is None:
            self._audio_segment_pts = pts
            return None
        elapsed = pts_delta(pts, self._audio_segment_pts) / PTS_CLOCK_HZ
        if elapsed >= AUDIO_ONLY_SEGMENT_SECONDS + AUDIO_ONLY_FORCED_CUT_SLACK or (
            elapsed >= AUDIO_ONLY_SEGMENT_SECONDS and follows_tables
        ):
            self._audio_segment_pts = pts
            return self._segment_start(True)
        return None

    def _on_cut(self, cut: CutSegment) -> None:
        self._publish(cut, _span_seconds(cut.first_pts, cut.next_pts), ended=False)

    def _last_duration(self, cut: CutSegment) -> float:
        return _span_seconds(cut.first_pts, cut.last_pts) + self._lead_frame_seconds

    def _publish(self, cut: CutSegment, duration: float, *, ended: bool) -> None:
        sequence = self._next_sequence
        self._next_sequence += 1
        name = f"ts_{sequence}.ts"
        segment = TsSegment(
            sequence=sequence,
            path=f"{self._rendition}/{name}",
            duration=round(duration, 3),
            discontinuity=cut.start.discontinuity,
        )
        write_new(self._dir / name, cut.data)  # announced by the event below, never rewritten
        self._on_event({
            "event": "ts_segment",
            "rendition": self._rendition,
            "sequence": sequence,
            "path": segment.path,
            "duration": segment.duration,
        })
        playlist_duration = self._playlist.duration + segment.duration
        self._media_time += segment.duration
        for old in self._playlist.add(segment):
            # RFC 8216 6.2.2: a removed segment stays available for its duration plus the
            # duration of the longest playlist that contained it.
            self._retired.append((self._media_time + old.duration + playlist_duration, old))
        self._playlist.ended = ended
        self._write_playlist()
        self._delete_expired()

    def _write_playlist(self) -> None:
        text = self._playlist.render()
        write_atomically(self._dir / MEDIA_PLAYLIST_NAME, text.encode())
        self._on_event({
            "event": "ts_playlist",
            "rendition": self._rendition,
            "path": f"{self._rendition}/{MEDIA_PLAYLIST_NAME}",
            "text": text,
        })

    def _delete_expired(self) -> None:
        expired = [old for deadline, old in self._retired if deadline <= self._media_time + 1e-6]
        if not expired:
            return
        self._retired = [(d, old) for d, old in self._retired if d > self._media_time + 1e-6]
        for old in expired:
            (self._out_dir / old.path).unlink(missing_ok=True)
        self._on_event({"event": "removed", "paths": [old.path for old in expired]})


@dataclass(frozen=True)
class _Keyframe:
    pts: int  # 90 kHz, as the muxer will stamp it before adding its delay
    start: SegmentStart | None


class _CutterSink:
    """The write-only file object PyAV writes into; forwards to the cutter once there is one.

    The cutter needs the lead stream's PID, known only after add_stream(); the muxer writes
    nothing before the first packet, so nothing is lost (except by a never-used muxer being
    torn down).
    """

    def __init__(self) -> None:
        self.cutter: TsCutter | None = None

    def write(self, data: bytes) -> int:
        if self.cutter is None:
            return len(data)
        return self.cutter.write(data)


def _copy_packet(packet: av.Packet, stream: av.stream.Stream) -> av.Packet:
    copy = av.Packet(bytes(packet))
    copy.pts = packet.pts
    copy.dts = packet.dts
    copy.duration = packet.duration
    copy.time_base = packet.time_base
    copy.is_keyframe = packet.is_keyframe
    for side_data in packet.iter_sidedata():  # e.g. new SPS/PPS announced by the demuxer
        copy.set_sidedata(side_data)
    copy.stream = stream
    return copy


def _pts_90k(packet: av.Packet, stream: av.stream.Stream) -> int:
    ticks = packet.pts * Fraction(packet.time_base or stream.time_base) * PTS_CLOCK_HZ
    return math.floor(ticks + Fraction(1, 2)) % PTS_MODULUS


def _packet_seconds(packet: av.Packet, stream: av.stream.Stream) -> float:
    time_base = packet.time_base or stream.time_base
    if packet.duration and time_base:
        return packet.duration * time_base.numerator / time_base.denominator
    return 0.0


def _span_seconds(first: int | None, last: int | None) -> float:
    if first is None or last is None:
        return 0.0
    return pts_delta(last, first) / PTS_CLOCK_HZ
