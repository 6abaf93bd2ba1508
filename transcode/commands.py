"""The worker's one dispatch of the node's commands (`transcode/contract.py`), besides the
media records that `PipeInput` reads.

A handler is registered per command type (`@handles(Type)`) and gets the command and the
`WorkerContext`: the config, the event channel and the stream's pipeline, which it may change
(a recorder started, the DVR window cleared, overlays reloaded). Handlers run on the thread
that packages, between packets, so they never race the packagers: a pushed stream's worker
reads its commands there between its input's records; a pull or WHIP worker reads stdin on
another thread, which queues them for the packaging loop (`run_pending` after each packet;
while no source delivers, they wait).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packager.recorder import Recorder
from transcode.contract import (
    ClearDvr,
    Command,
    Event,
    KeepOverlays,
    SetDvrWindow,
    SetOverlay,
    StartRecording,
    StartRestream,
    StopRecording,
    StopRestream,
    WorkerConfig,
)
from transcode.ladder import even
from transcode.outputs import SOURCE
from transcode.overlay import Compositor, OverlayError, Placement
from transcode.passthrough import ORIGIN
from transcode.pipeline import StreamPipeline
from transcode.restream.job import Restreams

log = logging.getLogger("headwater.worker")

Handler = Callable[[Any, "WorkerContext"], None]
COMMAND_HANDLERS: dict[type[Command], Handler] = {}


def handles(command_type: type[Command]) -> Callable[[Handler], Handler]:
    """Register the worker's handler of one command type (a test adds its own the same way)."""

    def register(handler: Handler) -> Handler:
        COMMAND_HANDLERS[command_type] = handler
        return handler

    return register


@dataclass
class WorkerContext:
    """What a command's handler may act on. `send` is the channel to the node; `emit` also
    shows the live output's events to the recorder (it keeps the live inits and the newest
    segment even while nothing records, so a start knows where the next keyframe is)."""

    config: WorkerConfig
    send: Callable[[Event | dict[str, Any]], None]
    pipeline: StreamPipeline | None = None  # None until the source's first packets
    # the overlays (they may come before the pipeline), converted on a thread of their own
    compositor: Compositor = field(default_factory=lambda: Compositor(background=True))
    pending: deque[Command] = field(default_factory=deque)  # queued by the stdin thread
    recorder: Recorder = field(init=False)
    restreams: Restreams = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = Recorder(Path(self.config.out_dir), self._on_file_thread, self.send, self._recorded_video)
        self.restreams = Restreams(self.send)

    def open_pipeline(self, video, audio, clock: Callable[[], float]) -> StreamPipeline:
        """The stream's pipeline for its first source (`context.config`, read now: a command may
        have changed it while the source opened), with the restreams subscribed."""
        pipeline = self.pipeline = StreamPipeline(self.config, video, audio, self.emit, clock, self.compositor)
        self.restreams.attach(video, audio)
        pipeline.hub.subscribe(self.restreams)
        return pipeline

    def emit(self, event: Event | dict[str, Any]) -> None:
        if isinstance(event, dict):  # the packager's (from the packaging thread)
            self.recorder.observe(event)
            if event.get("rendition") == SOURCE:
                return  # the unlisted source track is the recorder's: the node neither lists nor serves it
        self.send(event)

    def _on_file_thread(self, job: Callable[[], None]) -> None:
        """The recorder's disk work, in order with the live output's (a deletion of a file the
        recorder still copies from is queued after the copy)."""
        if self.pipeline is None:
            job()  # nothing is open yet: nothing to wait for
        else:
            self.pipeline.outputs.files.call(job)

    def _recorded_video(self, record_type: str) -> str:
        """The live rendition a recording takes its video from: for "origin" the source as
        received (the origin, or the unlisted `SOURCE` track when html_overlay re-encodes the
        origin), for "transcoded" the top rendition: the tallest rung of the quality set
        encoded (the origin when the set has none, or when html_overlay made the origin that
        rung, see `transcode/pipeline.with_composited_origin`)."""
        if self.pipeline is None:
            return ORIGIN
        if record_type != "transcoded":
            return self.pipeline.source_output
        transcoder = self.pipeline.transcoder
        if transcoder is None:
            return ORIGIN
        encoded = transcoder.renditions  # tallest first; the composited origin first of all
        if ORIGIN in encoded and self._rung_is_the_origin(encoded):
            return ORIGIN
        return next((name for name in encoded if name != ORIGIN), ORIGIN)

    def _rung_is_the_origin(self, encoded: list[str]) -> bool:
        """Whether a rung of the source's size is encoded as the composited origin."""
        assert self.pipeline is not None
        resolution = self.pipeline.outputs.variants[ORIGIN].resolution
        return resolution is not None and any(
            even(rung.height) == resolution[1] and rung.name not in encoded for rung in self.config.renditions
        )

    def dispatch(self, command: Command) -> None:
        """Run the command's handler now (on the packaging thread)."""
        handler = COMMAND_HANDLERS.get(type(command))
        if handler is None:
            log.warning("no handler for the node's %s command; ignored", command.kind)
            return
        handler(command, self)

    def queue(self, command: Command) -> None:
        """From another thread: the packaging loop runs it at its next `run_pending`."""
        self.pending.append(command)

    def run_pending(self) -> None:
        while self.pending:
            self.dispatch(self.pending.popleft())


@handles(SetOverlay)
def set_overlay(command: SetOverlay, context: WorkerContext) -> None:
    """The image is decoded and converted on the compositor's thread, not here."""
    if command.png:
        try:
            context.compositor.set_image(command.overlay_id, base64.b64decode(command.png, validate=True))
        except (OverlayError, binascii.Error) as error:
            log.warning("overlay %d: image refused: %s", command.overlay_id, error)
            return
    context.compositor.place(
        command.overlay_id, Placement(command.x, command.y, command.width, command.height, command.stretch)
    )


@handles(KeepOverlays)
def keep_overlays(command: KeepOverlays, context: WorkerContext) -> None:
    context.compositor.keep_only(set(command.overlay_ids))


@handles(SetDvrWindow)
def set_dvr_window(command: SetDvrWindow, context: WorkerContext) -> None:
    """A pipeline started later (the source's first packets) takes the new window from the config."""
    context.config = replace(context.config, dvr_seconds=command.dvr_seconds)
    if context.pipeline is not None:
        context.pipeline.outputs.set_dvr(command.dvr_seconds)
    log.info("DVR window now %s", f"{command.dvr_seconds:g} s" if command.dvr_seconds else "off")


@handles(ClearDvr)
def clear_dvr(_command: ClearDvr, context: WorkerContext) -> None:
    if context.pipeline is not None:
        context.pipeline.outputs.clear_dvr()
        log.info("DVR window cleared: it restarts at the live edge")


@handles(StartRecording)
def start_recording(command: StartRecording, context: WorkerContext) -> None:
    context.recorder.start(
        command.key,
        Path(command.directory),
        record_type=command.record_type,
        split_seconds=command.split_seconds,
        continues=command.continues,
        recorded=command.recorded,
    )


@handles(StopRecording)
def stop_recording(command: StopRecording, context: WorkerContext) -> None:
    context.recorder.stop(command.key)


@handles(StartRestream)
def start_restream(command: StartRestream, context: WorkerContext) -> None:
    context.restreams.start(command)


@handles(StopRestream)
def stop_restream(command: StopRestream, context: WorkerContext) -> None:
    context.restreams.stop(command.restream_id)
