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

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from transcode.contract import Command, Event, WorkerConfig

if TYPE_CHECKING:
    from transcode.pipeline import StreamPipeline

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
    """What a command's handler may act on."""

    config: WorkerConfig
    emit: Callable[[Event | dict[str, Any]], None]
    pipeline: StreamPipeline | None = None  # None until the source's first packets
    pending: deque[Command] = field(default_factory=deque)  # queued by the stdin thread

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
