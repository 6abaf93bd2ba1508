"""Packaging the original as it arrives (the "origin" rendition): CMAF/LL-HLS/DASH and TS.

No decoding: packets go straight into the packagers. The TS segmenter cuts on the same
keyframes as CMAF because both take their decisions from one `SegmentBoundaries`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av

from packager.boundaries import SegmentBoundaries
from packager.live import LiveOutput, PackagerConfig
from packager.mpegts import TsRendition, TsVariant, write_ts_master

ORIGIN = "origin"


class PassthroughJob:
    def __init__(
        self,
        config: PackagerConfig,
        video: av.video.stream.VideoStream | None,
        audio: av.audio.stream.AudioStream | None,
        emit: Callable[[dict], None],
        *,
        mpegts_endlist: bool = True,
    ) -> None:
        self.emit = emit
        self.out_dir = Path(config.out_dir)
        self.video = video
        self.mpegts_endlist = mpegts_endlist
        self.segment_target = config.segment_target
        self.window_segments = config.window_segments
        self.boundaries = SegmentBoundaries(config.segment_target)
        self.cmaf = LiveOutput(config, emit)
        self.ts = TsRendition(
            self.out_dir, ORIGIN, self.on_ts_event, window_segments=config.window_segments
        )
        self.tracks: dict[int, tuple[object, int]] = {}
        self.sources: dict[int, tuple[str, tuple[object, int]]] = {}  # index → (type, track)
        self.ts_master_written = False
        if video is not None:
            self._track(video, self.cmaf.add_video(ORIGIN, video))
        if audio is not None:
            self._track(audio, self.cmaf.add_audio(audio))

    def switch_source(
        self, video: av.video.stream.VideoStream | None, audio: av.audio.stream.AudioStream | None
    ) -> None:
        """Continue the same playlists from a new source (a PULL failover): media sequence
        numbers go on, the next segment carries a discontinuity. CMAF shifts the new source's
        timestamps itself; TS gets a new muxer continuing the numbering, since its in-band
        parameter sets come from the templates. Tracks the first source lacked stay absent.
        Keep the old source's container open until this returns: the templates point into it."""
        old = dict(self.sources.values())
        self.sources, self.tracks, templates = {}, {}, {}
        next_ts = self.ts.next_sequence
        self.ts.close(endlist=False)
        self.ts = TsRendition(self.out_dir, ORIGIN, self.on_ts_event,
                              window_segments=self.window_segments, start_sequence=next_ts)
        self.ts.discontinuity()
        for stream in (video, audio):
            if stream is not None and stream.type in old:
                cmaf_track = old[stream.type][0]
                templates[cmaf_track] = stream
                self._track(stream, cmaf_track)
        self.cmaf.discontinuity(templates)
        self.video = video if video is not None and "video" in old else self.video
        self.boundaries = SegmentBoundaries(self.segment_target)

    def _track(self, stream: av.stream.Stream, cmaf_track: object) -> None:
        self.tracks[stream.index] = (cmaf_track, self.ts.add_stream(stream))
        self.sources[stream.index] = (stream.type, self.tracks[stream.index])

    def on_packet(self, packet: av.Packet) -> None:
        track = self.tracks.get(packet.stream.index)
        if track is None:
            return
        cmaf_track, ts_index = track
        segment_start = False
        if packet.stream.type == "video":
            seconds = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
            segment_start = self.boundaries.is_segment_start(seconds, packet.is_keyframe)
        elif self.video is None:
            seconds = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
            segment_start = self.boundaries.is_segment_start(seconds, True)
        self.cmaf.mux(cmaf_track, packet)
        self.ts.mux(ts_index, packet, segment_start=segment_start)

    def on_ts_event(self, event: dict) -> None:
        self.emit(event)
        if event.get("event") == "ts_segment" and not self.ts_master_written:
            self.write_ts_master(event)

    def write_ts_master(self, first_segment: dict) -> None:
        size = (self.out_dir / first_segment["path"]).stat().st_size
        bandwidth = int(size * 8 / max(first_segment["duration"], 0.1) * 1.2)
        context = self.video.codec_context if self.video is not None else None
        variant = TsVariant(
            rendition=ORIGIN,
            bandwidth=bandwidth,
            resolution=(context.width, context.height) if context is not None else None,
            codecs=None,
            frame_rate=float(self.video.average_rate) if self.video and self.video.average_rate else None,
        )
        text = write_ts_master(self.out_dir, [variant])
        self.ts_master_written = True
        self.emit({"event": "ts_master", "path": "master_mpegts.m3u8", "text": text})

    def close(self) -> None:
        self.cmaf.close()
        self.ts.close(endlist=self.mpegts_endlist)
