"""What feeds a stream's workers on this node: one shape for every kind of source.

A `StreamSource` is one stream's source: `PushSession` (server/media/push.py: RTMP/SRT
publishers in the main and backup slots, whose bytes the node relays to the worker),
`PullSession` (server/media/pull.py: the worker opens the URLs) and `WhipSession`
(server/media/whip.py: the worker answers the offer). Each runs its workers one turn at a
time through the stream's `Succession` (`run_worker`), says what its worker's `WorkerConfig`
adds (`worker_source`) and what the API's `stream_source_type` is, and is registered in the
node's `Sources` while it holds the stream, so admission asks one place whether another
source feeds it. A new kind of source is one new module: a subclass and whatever admits it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from server.media.worker_events import WorkerEvents
from server.media.worker_process import NEVER_STARTED, WorkerProcess
from transcode.contract import Rendition, WhipAnswer, WhipFailed

if TYPE_CHECKING:
    from server.media.succession import Succession
    from server.media.supervisor import Supervisor

log = logging.getLogger("headwater.supervisor")


class StreamSource:
    """One stream's source on this node, from admission until its last worker is done."""

    kind: ClassVar[str] = ""  # for logs: "push", "pull", "whip"

    def __init__(
        self,
        supervisor: Supervisor,
        stream_id: int,
        mpegts_endlist: bool,
        renditions: list[Rendition],
        *,
        html_overlay: bool = False,
    ) -> None:
        self.supervisor = supervisor
        self.stream_id = stream_id
        self.mpegts_endlist = mpegts_endlist
        self.renditions = renditions  # the stream's quality set when the source came
        self.html_overlay = html_overlay  # the worker re-encodes the origin to draw the overlays
        self.worker: WorkerProcess | None = None
        self.replaced: WorkerProcess | None = None  # stopped for a new encoding, not crashed
        self.events: WorkerEvents | None = None  # the last worker's
        self.standby = False  # waits while another node runs the stream (a push session only)

    @property
    def source_type(self) -> str | None:
        """The API's `stream_source_type` of what feeds the worker now; None when the worker's
        `Started` event names it (a pull)."""
        return None

    def worker_source(self) -> dict[str, Any]:
        """The `WorkerConfig` fields that tell the worker what to open (none: the node pushes
        the bytes on its stdin)."""
        return {}

    def answered(self, event: WhipAnswer | WhipFailed) -> None:
        """The worker answered (or refused) an offer; only a WHIP session made one."""

    def give_up(self, reason: str) -> None:
        """Stop feeding the stream (another node runs it now: server/cluster/)."""
        raise NotImplementedError

    @property
    def succession(self) -> Succession:
        return self.supervisor.succession(self.stream_id)

    def new_worker(self) -> WorkerProcess:
        """A worker of this source's (not started yet); its events go through the node's one
        dispatch (`WorkerEvents`), which asks this source what only it knows. It is told the
        stream's overlays first, with their last images (server/overlays/live.py), the
        recording it continues or starts (server/media/recordings.py) and its restreams
        (server/media/restreams.py)."""
        self.events = WorkerEvents(self.supervisor, self.stream_id, self)
        self.worker = WorkerProcess(self.stream_id, self.events)
        first = self.supervisor.overlays.commands(self.stream_id)
        first += self.supervisor.recordings.commands(self.stream_id, self.worker)
        first += self.supervisor.restreams.commands(self.stream_id, self.worker)
        if first:
            self.worker.send(*first)
        return self.worker

    async def run_worker(self, worker: WorkerProcess) -> int:
        """The worker's turn on the stream: it starts once the stream's previous worker has
        exited (whichever source ran it) and resumes where that one stopped; `worker_exited`
        runs before the next one's turn. The exit code."""
        async with self.succession.turn(worker):
            self.turn_began(worker)
            await worker.start(
                self.supervisor.worker_config(
                    self.stream_id,
                    self.mpegts_endlist,
                    self.renditions,
                    overlays=self.html_overlay,
                    **self.worker_source(),
                )
            )
            code = await worker.wait(timeout=None)
            if code not in (0, NEVER_STARTED) and worker is not self.replaced:
                self.succession.meter.worker_failed()
            self.supervisor.recordings.worker_exited(self.stream_id, worker)
            self.supervisor.restreams.worker_exited(worker)
            self.worker_exited(worker, code)
        return code

    def turn_began(self, worker: WorkerProcess) -> None:
        """The worker's turn came: every worker before it has exited and been handled."""

    def worker_exited(self, worker: WorkerProcess, code: int) -> None:
        """Handle a worker's exit, within its turn (the next worker has not started yet)."""
        if self.worker is worker:
            self.worker = None

    # -- html_overlay switched while live ------------------------------------------------------
    def set_html_overlay(self, on: bool) -> None:
        """The origin's encoding changes (re-encoded with overlays, or passed through): the
        running worker is replaced by one with the new setting where the source can
        (`replace_worker`); players go on after a discontinuity, as after a crash."""
        if on == self.html_overlay:
            return
        self.html_overlay = on
        worker = self.worker
        if worker is not None and self.replace_worker():
            self.replaced = worker
            log.info("stream %s: html_overlay %s; a new worker follows", self.stream_id, "on" if on else "off")

    def replace_worker(self) -> bool:
        """Stop the running worker so that a new one takes its state over (a kill: a worker that
        finishes ends its playlists). False where the source cannot: its next worker takes the
        setting (a WHIP session's peer lives in its worker)."""
        return False

    def was_replaced(self, worker: WorkerProcess) -> bool:
        """Whether `worker` exited because `replace_worker` stopped it (asked once)."""
        if worker is not self.replaced:
            return False
        self.replaced = None
        return True


S = TypeVar("S", bound=StreamSource)


class Sources:
    """Every source that holds a stream on this node. Usually one per stream; while a stream
    changes kind (a pushed stream switched to pull) the next is registered before the last
    one's dropped publishers have left, and their workers take turns (`Succession`)."""

    def __init__(self, changed: Callable[[int], None] | None = None) -> None:
        """`changed(stream_id)` is called after a source of the stream is added or removed."""
        self.by_stream: dict[int, list[StreamSource]] = {}
        self.changed = changed

    def add(self, source: StreamSource) -> None:
        self.by_stream.setdefault(source.stream_id, []).append(source)
        if self.changed is not None:
            self.changed(source.stream_id)

    def remove(self, source: StreamSource) -> None:
        held = self.by_stream.get(source.stream_id, [])
        if source in held:
            held.remove(source)
        if not held:
            self.by_stream.pop(source.stream_id, None)
        if self.changed is not None:
            self.changed(source.stream_id)

    def feeding(self, stream_id: int) -> list[StreamSource]:
        return list(self.by_stream.get(stream_id, []))

    def find(self, stream_id: int, kind: type[S]) -> S | None:
        """The stream's source of this kind."""
        return next((s for s in self.by_stream.get(stream_id, []) if isinstance(s, kind)), None)

    def held_by_another_kind(self, stream_id: int, kind: type[StreamSource]) -> bool:
        """Whether a source of another kind feeds the stream (an ingest of `kind` is refused)."""
        return any(not isinstance(s, kind) for s in self.by_stream.get(stream_id, []))

    def every(self, kind: type[S]) -> Iterator[S]:
        for held in list(self.by_stream.values()):
            yield from (s for s in held if isinstance(s, kind))
