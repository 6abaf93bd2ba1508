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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av

from packager.live import PackagerConfig
from packager.resume import ResumePoint
from transcode.events import EventChannel
from transcode.heap import keep_freed_memory
from transcode.ladder import Rendition
from transcode.pipe_source import PipeInput, PipeSource
from transcode.pipeline import StreamPipeline
from transcode.pull_worker import run_pull

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
    renditions: list[Rendition] = field(default_factory=list)  # the quality set; empty = origin only
    x264_preset: str = "superfast"
    hardware_encoder: bool = True
    degrade_after: float = 5.0  # seconds behind real time before a rendition is shed
    resume: ResumePoint | None = None  # this replaces a worker of the same stream: continue it
    utc_timing_url: str = "/time"  # the node's clock for the MPD's UTCTiming: absolute (server/urls.py)

    @classmethod
    def from_json(cls, text: str) -> "WorkerConfig":
        data = json.loads(text)
        data["renditions"] = [Rendition.from_json(r) for r in data.get("renditions", [])]
        data["resume"] = ResumePoint.from_json(data.get("resume"))
        return cls(**data)

    def packager(self) -> PackagerConfig:
        return PackagerConfig(
            out_dir=Path(self.out_dir),
            part_target=self.part_target,
            segment_target=self.segment_target,
            window_segments=self.window_segments,
            utc_timing_url=self.utc_timing_url,
            resume=self.resume,
        )


def next_source(pipe: PipeInput) -> PipeSource | None:
    """The next input whose streams are fully known (see `PipeSource.complete`).

    An input still going whose first bytes did not tell is probed again where the last probe
    stopped, until it tells or ends: an MPEG-TS encoder that flags no random access point is
    started by the node at any PAT (`server/media/ts_feed.py`), and its first SPS may come with
    a keyframe seconds later."""
    reader = pipe.next_input()
    while reader is not None:
        try:
            source = PipeSource(reader)
        except av.error.FFmpegError as error:
            log.warning("skipping a %s input that could not be opened: %s", reader.format, error)
            reader = pipe.next_input()
            continue
        if source.complete:
            return source
        source.close()
        if reader.ended:
            log.warning("skipping a %s input that ended before its streams were known", reader.format)
            reader = pipe.next_input()
        elif not reader.reprobed:
            log.warning("the %s input's first bytes do not tell its streams (no keyframe yet?); probing on",
                        reader.format)
            reader.reprobed = True
    return None


def run(config: WorkerConfig, emit: Callable[[dict], None], source_fd: int = 0,
        clock: Callable[[], float] = time.monotonic, flush: Callable[[], None] | None = None) -> None:
    """Package (and transcode) what feeds the stream until it ends."""
    if config.pull_urls:
        run_pull(config, emit, clock)
        return
    if config.whip_offer:
        from transcode.whip_worker import run_whip  # aiortc loads only in WHIP workers
        run_whip(config, emit, clock)
        return
    pipe = PipeInput(source_fd, before_wait=flush)
    source = next_source(pipe)
    if source is None:
        return  # the node gave up before sending anything usable
    pipeline = StreamPipeline(config, source.video, source.audio, emit, clock)
    emit(pipeline.source_event(source.video, source.audio))
    try:
        while True:
            for packet in source.packets():
                pipeline.publish(packet)
            following = next_source(pipe)
            if following is None:
                break
            emit(pipeline.source_event(following.video, following.audio, kind="source_changed"))
            pipeline.source_changed(following.video, following.audio)
            source.close()
            source = following
    finally:
        try:
            pipeline.close()
        finally:
            source.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    keep_freed_memory()
    config = WorkerConfig.from_json(argv[1])
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    events = EventChannel(batched=not (config.pull_urls or config.whip_offer))
    try:
        run(config, events.send, flush=events.flush)
    except Exception as error:  # the node logs it and decides whether to restart
        log.exception("stream %s worker failed", config.stream_id)
        events.send({"event": "error", "message": str(error)})
        return 1
    finally:
        events.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
