"""The node's one dispatch of a stream worker's events, the same for pushed, pulled and WHIP streams.

Every event first reaches the stream's `Succession` (delivery state and resume point), then
its handler here, found by the event's type (`transcode/contract.py`). Adding an event means
one type in the contract and one handler below (`@handles(Type)`); an event without a handler
only feeds delivery. What differs between kinds of source is asked of the worker's
`StreamSource` (server/media/source.py): the source type a pushed stream reports is its
active publisher's, a pull worker's `Started` names its own, a WHIP session takes the answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from transcode.contract import (
    Degraded,
    Error,
    Event,
    Master,
    Part,
    PullGaveUp,
    RecordingFailed,
    RecordingProgress,
    RecordingSplit,
    RecordingStopped,
    RestreamLive,
    RestreamStopped,
    Segment,
    SourceChanged,
    SourceFailed,
    SourceLost,
    Started,
    Stats,
    WhipAnswer,
    WhipFailed,
)

if TYPE_CHECKING:
    from server.media.source import StreamSource
    from server.media.status import StatusWriter
    from server.media.supervisor import Supervisor
    from server.metrics.stream_meter import StreamMeter

log = logging.getLogger("headwater.supervisor")

Handler = Callable[["WorkerEvents", Any], None]
HANDLERS: dict[type[Event], Handler] = {}
H = TypeVar("H", bound=Handler)


def handles(event_type: type[Event]) -> Callable[[H], H]:
    """Register the node's handler of one event type (a test adds its own the same way)."""

    def register(handler: H) -> H:
        HANDLERS[event_type] = handler
        return handler

    return register


class WorkerEvents:
    """What one worker of a stream tells the node: `WorkerProcess` calls it with each event."""

    def __init__(self, supervisor: Supervisor, stream_id: int, source: StreamSource | None = None) -> None:
        """`source` is what runs the worker (none: a worker run on its own, as in a test)."""
        self.supervisor = supervisor
        self.stream_id = stream_id
        self.source = source
        self.live = False  # a source is delivering (between `Started` and its end)
        self.output_ready = False  # this worker's master playlist is served (once per `Started`)

    def __call__(self, event: Event) -> None:
        if not isinstance(event, (WhipAnswer, WhipFailed)):
            self.supervisor.succession(self.stream_id).observe(event)
        handler = HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def went_offline(self) -> None:
        """live=false (and finished_at_primary), only when a source was actually live."""
        if self.live:
            self.live = False
            self.supervisor.status.went_offline(self.stream_id)

    @property
    def meter(self) -> StreamMeter:
        return self.supervisor.succession(self.stream_id).meter

    @property
    def status(self) -> StatusWriter:
        return self.supervisor.status

    def source_type(self) -> str | None:
        """The API's `stream_source_type` of whatever feeds the worker now, unless the
        worker's `Started` names it (a pull)."""
        return self.source.source_type if self.source is not None else None


@handles(Started)
def _started(events: WorkerEvents, event: Started) -> None:
    events.live = True
    events.output_ready = False
    events.meter.source_started(True)
    events.status.went_live(events.stream_id, event.source_type or events.source_type() or "rtmp", event)
    if event.source_url is not None:  # a pull: its source works again
        events.status.set(events.stream_id, source_error=None)
        log.info("stream %s: pulling from %s", events.stream_id, event.source_url)


@handles(SourceChanged)
def _source_changed(events: WorkerEvents, event: SourceChanged) -> None:
    events.meter.source_started(False)
    events.status.source_changed(events.stream_id, event.source_type or events.source_type(), event)


@handles(Stats)
def _stats(events: WorkerEvents, event: Stats) -> None:
    events.meter.stats = event
    events.status.stats(events.stream_id, event)


@handles(Part)
def _part(events: WorkerEvents, event: Part) -> None:
    events.meter.part(event, time.monotonic())


@handles(Master)
def _master(events: WorkerEvents, event: Master) -> None:
    """The first master playlist of a live source (published once every media playlist lists
    a complete segment): a player can start now (Gcore's "transcoding" stage)."""
    if events.live and not events.output_ready:
        events.output_ready = True
        events.status.output_ready(events.stream_id)


@handles(Segment)
def _segment(events: WorkerEvents, event: Segment) -> None:
    events.meter.segment()


@handles(Degraded)
def _degraded(events: WorkerEvents, event: Degraded) -> None:
    log.warning("stream %s: transcoder dropped %s (%s)", events.stream_id, event.dropped, event.reason)
    events.status.set(events.stream_id, transcoded_qualities=event.renditions)


@handles(Error)
def _error(events: WorkerEvents, event: Error) -> None:
    log.error("stream %s worker: %s", events.stream_id, event.message)


@handles(SourceFailed)
def _source_failed(events: WorkerEvents, event: SourceFailed) -> None:
    events.status.set(events.stream_id, source_error=event.message)


@handles(SourceLost)
def _source_lost(events: WorkerEvents, event: SourceLost) -> None:
    events.went_offline()


@handles(PullGaveUp)
def _pull_gave_up(events: WorkerEvents, event: PullGaveUp) -> None:
    log.warning(
        "stream %s: no pull source worked for %ss; deactivating the stream", events.stream_id, event.idle_seconds
    )
    events.status.set(
        events.stream_id, active=False, source_error=f"no source worked for {event.idle_seconds} s; deactivated"
    )


@handles(WhipAnswer)
@handles(WhipFailed)
def _whip_answer(events: WorkerEvents, event: WhipAnswer | WhipFailed) -> None:
    if events.source is not None:
        events.source.answered(event)


@handles(RecordingProgress)
def _recording_progress(events: WorkerEvents, event: RecordingProgress) -> None:
    events.supervisor.recordings.progress(events.stream_id, event)
    events.meter.recorded(event.key, event.duration)


@handles(RecordingSplit)
def _recording_split(events: WorkerEvents, event: RecordingSplit) -> None:
    events.supervisor.recordings.split(events.stream_id, event)


@handles(RecordingStopped)
def _recording_stopped(events: WorkerEvents, event: RecordingStopped) -> None:
    events.supervisor.recordings.stopped(events.stream_id, event)


@handles(RecordingFailed)
def _recording_failed(events: WorkerEvents, event: RecordingFailed) -> None:
    events.supervisor.recordings.failed(events.stream_id, event)


@handles(RestreamLive)
@handles(RestreamStopped)
def _restream(events: WorkerEvents, event: RestreamLive | RestreamStopped) -> None:
    events.supervisor.restreams.reported(event)
