"""Packaging the original as it arrives (the "origin" rendition): CMAF/LL-HLS/DASH and TS.

No decoding: packets go straight into the packagers. The TS segmenter cuts on the same
keyframes as CMAF because both take their decisions from one `SegmentBoundaries`.

A source switch (main ↔ backup) keeps the outputs: CMAF gets a discontinuity (new init
segment, EXT-X-DISCONTINUITY, a new DASH Period, the timeline going on), TS a new muxer that
continues the playlist with EXT-X-DISCONTINUITY. Sequence numbers keep rising.
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
        self.window_segments = config.window_segments
        self.tracks: dict[int, tuple[object, int]] = {}
        self.ts_master_written = False
        self.video_track = self.cmaf.add_video(ORIGIN, video) if video is not None else None
        self.audio_track = self.cmaf.add_audio(audio) if audio is not None else None
        self._map_tracks(video, audio)

    def _map_tracks(self, video, audio) -> None:
        """Route the input's stream indexes to the output tracks (kept across sources)."""
        self.tracks = {}
        if video is not None and self.video_track is not None:
            self.tracks[video.index] = (self.video_track, self.ts.add_stream(video))
        if audio is not None and self.audio_track is not None:
            self.tracks[audio.index] = (self.audio_track, self.ts.add_stream(audio))

    def on_source_change(self, video, audio) -> None:
        """Another publisher's input follows: same outputs, a discontinuity in each.

        A track the first source did not have is ignored; one the new source lacks gets
        no packets."""
        templates = {}
        if video is not None and self.video_track is not None:
            templates[self.video_track] = video
        if audio is not None and self.audio_track is not None:
            templates[self.audio_track] = audio
        self.cmaf.discontinuity(templates)
        self.ts.close(endlist=False)
        self.ts = TsRendition(self.out_dir, ORIGIN, self.on_ts_event,
                              window_segments=self.window_segments, follows=self.ts)
        self.boundaries.reset()
        self.video = video if self.video_track is not None else None
        self._map_tracks(video, audio)

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
