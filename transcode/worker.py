"""The stream worker: one process per live stream, `python -m transcode.worker '<json config>'`.

stdin carries the source (FLV from the node's RTMP server), stdout carries JSON events to the
node, stderr carries logs. The worker ends when its source ends: it finalizes the playlists
(the packager reports `ended`) and exits 0.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packager.live import PackagerConfig
from transcode.encoders import detect_h264_encoder
from transcode.events import EventChannel
from transcode.hub import StreamHub
from transcode.keyframes import KeyframePlan
from transcode.ladder import PlannedRendition, Rendition, plan
from transcode.outputs import StreamOutputs
from transcode.passthrough import ORIGIN, PassthroughJob
from transcode.pipe_source import FlvPipeSource
from transcode.stats import StatsJob
from transcode.timeline import ContinuousTimeline
from transcode.transcoder import TranscodeJob

log = logging.getLogger("headwater.worker")


@dataclass(frozen=True)
class WorkerConfig:
    stream_id: int
    out_dir: str
    part_target: float = 0.5
    segment_target: float = 2.0
    window_segments: int = 8
    mpegts_endlist: bool = True
    renditions: list[Rendition] = field(default_factory=list)  # the quality set; empty = origin only
    x264_preset: str = "superfast"
    hardware_encoder: bool = True
    degrade_after: float = 5.0  # seconds behind real time before a rendition is shed

    @classmethod
    def from_json(cls, text: str) -> "WorkerConfig":
        data = json.loads(text)
        data["renditions"] = [Rendition.from_json(r) for r in data.get("renditions", [])]
        return cls(**data)

    def packager(self) -> PackagerConfig:
        return PackagerConfig(
            out_dir=Path(self.out_dir),
            part_target=self.part_target,
            segment_target=self.segment_target,
            window_segments=self.window_segments,
        )


def run(config: WorkerConfig, emit: Callable[[dict], None], source_fd: int = 0,
        clock: Callable[[], float] = time.monotonic) -> None:
    """Package (and transcode) the FLV read from `source_fd` until it ends."""
    source = FlvPipeSource(source_fd)
    video, audio = source.video, source.audio
    keyframes = KeyframePlan(config.segment_target)
    outputs = StreamOutputs(config.packager(), emit, mpegts_endlist=config.mpegts_endlist)
    hub = StreamHub()
    try:
        if video is not None:
            outputs.add_video(ORIGIN, video, resolution=source_size(video), frame_rate=source_rate(video))
        hub.subscribe(PassthroughJob(outputs, keyframes, video))
        transcoder = start_transcoder(config, video, outputs, keyframes, emit, clock)
        if transcoder is not None:
            hub.subscribe(transcoder)
        if audio is not None:
            outputs.add_audio(audio)
        emit(source_event(video, audio, [ORIGIN, *(transcoder.renditions if transcoder else [])]))
        hub.subscribe(StatsJob(video, emit, progress=transcoder.media_seconds if transcoder else None))
        timeline = ContinuousTimeline()
        for packet in source.packets():
            timeline.apply(packet)
            hub.publish(packet)
    finally:
        try:
            hub.close()
            outputs.close()
        finally:
            source.close()


def start_transcoder(config: WorkerConfig, video, outputs: StreamOutputs, keyframes: KeyframePlan,
                     emit: Callable[[dict], None], clock: Callable[[], float]) -> TranscodeJob | None:
    ladder = planned_renditions(config, video)
    if not ladder:
        return None
    codec = detect_h264_encoder(config.hardware_encoder)
    log.info("stream %s: transcoding to %s with %s (preset %s)", config.stream_id,
             ", ".join(f"{r.name} {r.width}x{r.height}" for r in ladder), codec, config.x264_preset)
    return TranscodeJob(outputs, video, ladder, keyframes, codec=codec, preset=config.x264_preset,
                        emit=emit, degrade_after=config.degrade_after, clock=clock)


def planned_renditions(config: WorkerConfig, video) -> list[PlannedRendition]:
    """The quality set's rungs this source gets (none without video or without a set)."""
    if video is None or not config.renditions:
        return []
    size = source_size(video)
    if size is None:
        log.warning("stream %s: source video size unknown at start; packaging the origin only",
                    config.stream_id)
        return []
    return plan(config.renditions, *size)


def source_size(video) -> tuple[int, int] | None:
    context = video.codec_context
    return (context.width, context.height) if context.width and context.height else None


def source_rate(video) -> float | None:
    return float(video.average_rate) if video.average_rate else None


def source_event(video, audio, renditions: list[str]) -> dict:
    """What the source turned out to hold, reported once demuxing starts."""
    event: dict = {"event": "started", "renditions": renditions}
    if video is not None:
        context = video.codec_context
        event.update(video_codec=context.name, width=context.width, height=context.height,
                     frame_rate=source_rate(video))
    if audio is not None:
        event.update(audio_codec=audio.codec_context.name, sample_rate=audio.codec_context.sample_rate)
    return event


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    config = WorkerConfig.from_json(argv[1])
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    events = EventChannel()
    try:
        run(config, events.send)
    except Exception as error:  # the node logs it and decides whether to restart
        log.exception("stream %s worker failed", config.stream_id)
        events.send({"event": "error", "message": str(error)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
