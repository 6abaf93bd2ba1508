"""One rendition on its own thread: frames in through a bounded queue, packets out.

PyAV releases the GIL while scaling and encoding, so renditions on threads use every core.
The packets come back through a shared outbox the transcoder drains on the worker's main
thread, because the packagers are not thread-safe. The bounded inbox is the back-pressure:
when encoders cannot keep up, handing them a frame blocks, the worker reads its source more
slowly and the speed it reports falls below 1 (what `Degrader` watches).
"""

from __future__ import annotations

import logging
import queue
import threading

import av

from transcode.encoders import VideoEncoder
from transcode.ladder import PlannedRendition

log = logging.getLogger("headwater.transcode")

INBOX_FRAMES = 8
_FLUSH = object()


class RenditionThread:
    def __init__(
        self, planned: PlannedRendition, encoder: VideoEncoder, outbox: queue.SimpleQueue[tuple[str, av.Packet | None]]
    ) -> None:
        self.planned = planned
        self.name = planned.name
        self.encoder = encoder
        self.outbox = outbox
        self.inbox: queue.Queue = queue.Queue(maxsize=INBOX_FRAMES)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"rendition-{self.name}", daemon=True)
        self.thread.start()

    def submit(self, frame: av.VideoFrame) -> None:
        if self.error is None:
            self.inbox.put(frame)

    def finish(self) -> None:
        """Flush the encoder; its last packets and then a None follow in the outbox."""
        self.inbox.put(_FLUSH)

    def join(self) -> None:
        self.thread.join()

    def _run(self) -> None:
        try:
            while True:
                item = self.inbox.get()
                if item is _FLUSH:
                    self._emit(self.encoder.flush())
                    break
                self._emit(self.encoder.encode(item))
        except BaseException as error:  # reported by the transcoder; the other renditions go on
            self.error = error
            log.exception("rendition %s failed", self.name)
            self._drain_inbox()
        finally:
            self.outbox.put((self.name, None))

    def _emit(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.outbox.put((self.name, packet))

    def _drain_inbox(self) -> None:
        """A failed rendition keeps taking frames so the decoder never blocks on it."""

        def drain() -> None:
            while self.inbox.get() is not _FLUSH:
                pass

        threading.Thread(target=drain, daemon=True).start()
