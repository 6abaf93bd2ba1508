"""A pushed stream's worker loop: the inputs the node relays from RTMP/SRT publishers, one after another.

The node sends a new input at each switch between the stream's main and backup publishers
(`transcode/pipe_input.py`); each is demuxed by `ingest/pipe.py`. One pipeline lives as long
as the worker, so a switch continues the playlists (a discontinuity, the media sequence going
on) instead of starting them over. The node's commands are handled between the inputs'
records, on this (the packaging) thread.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.pipe import next_source
from transcode.commands import WorkerContext
from transcode.pipe_input import PipeInput
from transcode.pipeline import StreamPipeline


def run_push(context: WorkerContext, clock: Callable[[], float], source_fd: int = 0,
             flush: Callable[[], None] | None = None) -> None:
    config, emit = context.config, context.emit
    pipe = PipeInput(source_fd, before_wait=flush, on_command=context.dispatch)
    source = next_source(pipe.next_input)
    if source is None:
        return  # the node gave up before sending anything usable
    pipeline = context.pipeline = StreamPipeline(config, source.video, source.audio, emit, clock)
    emit(pipeline.source_event(source.video, source.audio))
    try:
        while True:
            for packet in source.packets():
                pipeline.publish(packet)
            following = next_source(pipe.next_input)
            if following is None:
                break
            emit(pipeline.source_event(following.video, following.audio, changed=True))
            pipeline.source_changed(following.video, following.audio)
            source.close()
            source = following
    finally:
        try:
            pipeline.close()
        finally:
            source.close()
