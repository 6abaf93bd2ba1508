"""One pipeline over a worker's sources, one after another (`ingest/`: each a `DemuxedSource`).

The first source starts the pipeline (a `started` event); each next one continues it after a
discontinuity (`source_changed`), so players keep their playlists. A pushed stream's inputs
come one per switch between its publishers (`transcode/push_worker.py`), a WHIP session is one
source (`transcode/whip_worker.py`). A pull worker picks its sources by what they deliver and
runs its own loop on the same pipeline (`transcode/pull_worker.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ingest.demuxed import DemuxedSource
from transcode.commands import WorkerContext


def package(context: WorkerContext, sources: Iterator[DemuxedSource], clock: Callable[[], float]) -> None:
    """Package every packet of `sources` until they run out; commands queued by another
    thread run between packets (`WorkerContext.run_pending`). Every source is closed."""
    emit = context.emit
    source = next(sources, None)
    if source is None:
        return  # the node gave up before sending anything usable
    pipeline = context.open_pipeline(source.video, source.audio, clock)
    emit(pipeline.source_event(source.video, source.audio))
    try:
        while True:
            for packet in source.packets():
                pipeline.publish(packet)
                context.run_pending()
            following = next(sources, None)
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
