"""A PULL stream's worker loop: rotate through the sources, package whichever works.

One pipeline (transcode/pipeline.py) lives as long as the worker, so a source switch continues the
playlists (discontinuity, media sequence going on) instead of starting them over. Events the
node acts on, besides the packager's:
- `started` (with `source_type`, `source_url` without credentials) when a source opened;
- `source_failed` (`message`) when a URL failed to open or to deliver media;
- `source_lost` when a working source stopped sending (end of stream or read timeout);
- `pull_gave_up` when no source worked for `give_up_after` seconds; the worker then exits.
The node ends the worker by closing its stdin.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import av

from ingest.pull.source import OpenedSource, PullRotation, describe_error, redacted
from transcode.commands import WorkerContext
from transcode.contract import PullGaveUp, SourceFailed, SourceLost
from transcode.pipe_input import watch_stdin
from transcode.pipeline import StreamPipeline

log = logging.getLogger("headwater.pull")


class PullWorker:
    def __init__(self, context: WorkerContext, stop: threading.Event, clock: Callable[[], float]) -> None:
        self.context = context
        self.config = config = context.config
        self.emit = context.emit
        self.stop = stop
        self.clock = clock
        self.pipeline: StreamPipeline | None = None
        # The source being packaged; kept open after it ends, since the packager's stream
        # templates point into it, until the next working source replaces it.
        self.current: OpenedSource | None = None
        self.rotation = PullRotation(
            list(config.pull_urls),
            open_timeout=config.pull_open_timeout,
            read_timeout=config.pull_read_timeout,
            backoff_max=config.pull_backoff_max,
            stop=stop,
            on_failure=self.on_failure,
        )

    def run(self) -> None:
        try:
            for source in self.rotation.sources():
                self.play(source)
                if source is not self.current:  # one that never delivered
                    source.close()
                if self.gave_up():
                    break
        finally:
            if self.pipeline is not None:
                self.pipeline.close()
            if self.current is not None:
                self.current.close()

    def on_failure(self, url: str, message: str) -> None:
        self.emit(SourceFailed(source_url=redacted(url), message=message))
        self.gave_up()

    def gave_up(self) -> bool:
        if self.stop.is_set() or self.rotation.idle_for() < self.config.pull_give_up_after:
            return self.stop.is_set()
        log.warning("no pull source worked for %.0fs; giving up", self.rotation.idle_for())
        self.emit(PullGaveUp(idle_seconds=round(self.rotation.idle_for(), 1)))
        self.stop.set()
        return True

    def play(self, source: OpenedSource) -> None:
        """Package one source until it ends, goes quiet, or the node stops us."""
        delivered = False
        try:
            for packet in source.packets():
                if not delivered:
                    delivered = True
                    self.attach(source)
                self.rotation.worked()
                self.pipeline.publish(packet)
                self.context.run_pending()
                if self.stop.is_set():
                    return
        except (av.error.FFmpegError, OSError) as error:
            log.warning("pull source %s: %s", redacted(source.url), describe_error(error))
            if not delivered:
                self.on_failure(source.url, f"{redacted(source.url)}: {describe_error(error)}")
                return
        if delivered:
            self.emit(SourceLost(source_url=redacted(source.url)))
        elif not self.stop.is_set():
            self.on_failure(source.url, f"{redacted(source.url)}: no media received")

    def attach(self, source: OpenedSource) -> None:
        """Point the packager at a source that just delivered its first packet."""
        video, audio = source.video, source.audio
        if self.pipeline is None:
            self.pipeline = self.context.open_pipeline(video, audio, self.clock)
        else:
            self.pipeline.source_changed(video, audio)  # the old container must outlive this call
            self.current.close()
        self.current = source
        self.emit(
            self.pipeline.source_event(video, audio, source_type=source.source_type, source_url=redacted(source.url))
        )


def run_pull(context: WorkerContext, clock: Callable[[], float]) -> None:
    stop = threading.Event()
    watch_stdin(stop.set, context.queue)
    PullWorker(context, stop, clock).run()
