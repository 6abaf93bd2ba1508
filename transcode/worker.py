"""The stream worker: one process per live stream, `python -m transcode.worker '<json config>'`.

stdin carries the source as records (`transcode/pipe_source.py`): one input (FLV from the
node's RTMP server, MPEG-TS from its SRT listener) after another, a new one at each switch
between the stream's main and backup publishers. stdout carries JSON events to the node,
stderr carries logs. The worker ends when stdin ends: it finalizes the playlists (the
packager reports `ended`) and exits 0.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import av

from packager.live import PackagerConfig
from transcode.events import EventChannel
from transcode.hub import StreamHub
from transcode.passthrough import PassthroughJob
from transcode.pipe_source import PipeInput, PipeSource
from transcode.pull_worker import run_pull
from transcode.stats import StatsJob

log = logging.getLogger("headwater.worker")


@dataclass(frozen=True)
class WorkerConfig:
    stream_id: int
    out_dir: str
    part_target: float = 0.5
    segment_target: float = 2.0
    window_segments: int = 8
    mpegts_endlist: bool = True
    pull_urls: tuple[str, ...] = ()  # a PULL stream: the worker opens these itself
    pull_open_timeout: float = 10.0
    pull_read_timeout: float = 5.0
    pull_backoff_max: float = 30.0
    pull_give_up_after: float = 7200.0
    whip_offer: str | None = None  # a WHIP stream: the worker answers this SDP offer itself
    whip_ice_loopback: bool = False
    whip_media_timeout: float = 15.0

    @classmethod
    def from_json(cls, text: str) -> "WorkerConfig":
        return cls(**json.loads(text))

    def packager(self) -> PackagerConfig:
        return PackagerConfig(
            out_dir=Path(self.out_dir),
            part_target=self.part_target,
            segment_target=self.segment_target,
            window_segments=self.window_segments,
        )


def next_source(pipe: PipeInput) -> PipeSource | None:
    """The next input whose streams are fully known (see `PipeSource.complete`)."""
    while (reader := pipe.next_input()) is not None:
        try:
            source = PipeSource(reader)
        except av.error.FFmpegError as error:
            log.warning("skipping a %s input that could not be opened: %s", reader.format, error)
            continue
        if source.complete:
            return source
        log.warning("skipping a %s input that ended before its streams were known", reader.format)
        source.close()
    return None


def run(config: WorkerConfig, events: EventChannel) -> None:
    if config.pull_urls:
        run_pull(config, events.send, source_event)
        return
    if config.whip_offer:
        from transcode.whip_worker import run_whip  # aiortc loads only in WHIP workers
        run_whip(config, events.send, source_event)
        return
    pipe = PipeInput(0)
    source = next_source(pipe)
    if source is None:
        return  # the node gave up before sending anything usable
    video, audio = source.video, source.audio
    events.send(source_event(video, audio))
    hub = StreamHub()
    hub.subscribe(PassthroughJob(config.packager(), video, audio, events.send,
                                 mpegts_endlist=config.mpegts_endlist))
    hub.subscribe(StatsJob(video, events.send))
    try:
        while True:
            for packet in source.packets():
                hub.publish(packet)
            source.close()
            source = next_source(pipe)
            if source is None:
                break
            events.send(source_event(source.video, source.audio, kind="source_changed"))
            hub.source_changed(source.video, source.audio)
    finally:
        hub.close()
        if source is not None:
            source.close()


def source_event(video, audio, kind: str = "started") -> dict:
    """What the source turned out to hold, reported once demuxing starts (`started`) and
    after each switch to another publisher (`source_changed`)."""
    event: dict = {"event": kind, "renditions": ["origin"]}
    if video is not None:
        context = video.codec_context
        event.update(video_codec=context.name, width=context.width, height=context.height,
                     frame_rate=float(video.average_rate) if video.average_rate else None)
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
        run(config, events)
    except Exception as error:  # the node logs it and decides whether to restart
        log.exception("stream %s worker failed", config.stream_id)
        events.send({"event": "error", "message": str(error)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
