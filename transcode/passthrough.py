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
        self.boundaries = SegmentBoundaries(config.segment_target)
        self.cmaf = LiveOutput(config, emit)
        self.ts = TsRendition(
            self.out_dir, ORIGIN, self.on_ts_event, window_segments=config.window_segments
        )
        self.tracks: dict[int, tuple[object, int]] = {}
        self.ts_master_written = False
        if video is not None:
            self.tracks[video.index] = (self.cmaf.add_video(ORIGIN, video), self.ts.add_stream(video))
        if audio is not None:
            self.tracks[audio.index] = (self.cmaf.add_audio(audio), self.ts.add_stream(audio))

    def on_packet(self, packet: av.Packet) -> None:
        track = self.tracks.get(packet.stream.index)
        if track is None:
            return
        cmaf_track, ts_index = track
        segment_start = False
        if packet.stream.type == "video":
            segment_start = self.boundaries.is_segment_start(_pts_seconds(packet), packet.is_keyframe)
        elif self.video is None:
            segment_start = self.boundaries.is_segment_start(_pts_seconds(packet), True)
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


def _pts_seconds(packet: av.Packet) -> float:
    """pts in seconds (0 without one); int / int, cheaper than float(pts × Fraction), same value."""
    if packet.pts is None:
        return 0.0
    time_base = packet.time_base
    return packet.pts * time_base.numerator / time_base.denominator
