"""A pushed stream's worker loop: the inputs the node relays from RTMP/SRT publishers, one after another.

The node sends a new input at each switch between the stream's main and backup publishers
(`transcode/pipe_input.py`); each is demuxed by `ingest/pipe.py` and packaged by the one
pipeline (`transcode/sources.py`), so a switch continues the playlists (a discontinuity, the
media sequence going on) instead of starting them over. The node's commands are handled
between the inputs' records, on this (the packaging) thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ingest.pipe import PipeSource, next_source
from transcode.commands import WorkerContext
from transcode.pipe_input import PipeInput
from transcode.sources import package


def inputs(pipe: PipeInput) -> Iterator[PipeSource]:
    """Every usable input, in order, until the node ends the stream."""
    while (source := next_source(pipe.next_input)) is not None:
        yield source


def run_push(
    context: WorkerContext, clock: Callable[[], float], source_fd: int = 0, flush: Callable[[], None] | None = None
) -> None:
    pipe = PipeInput(source_fd, before_wait=flush, on_command=context.dispatch)
    package(context, inputs(pipe), clock)
