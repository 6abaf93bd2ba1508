"""One stream's workers on this node, one after another: their numbering, files and delivery state.

A stream's worker ends and another one packages the stream for many reasons: it crashed, it
was stopped idle and data came back, the encoder reconnected (OBS does on any network hiccup,
and that is a new `PushSession`), the stream went from RTMP to SRT, pull or WHIP. Players
and caches keep the numbers and URLs they were told, and media are served `immutable`, so the
numbering belongs to the stream, not to a session: every worker resumes where the one before
it stopped (`packager/resume.py`), whichever session or ingest ran either.

One worker at a time writes the stream's directory: a worker starts only once the one before
has exited and its owner has handled the exit (`Succession.turn`). Then every name the old one
used is known (a finishing worker still announces its last segments) and nothing deletes files
under a worker still writing them. A predecessor that has not exited within FINISH_TIMEOUT is
killed: the newer worker is the stream's.

The numbers (a `ResumeTracker`, a few per stream) are kept in memory and, through `save`, in
the stream's row: when a worker starts its outputs, when it ends them, when the MPD's clock is
first known, and every SAVE_EVERY seconds of segments in between. A node that restarts
empties `live/` and goes on from the stored point, SAVE_EVERY's worth of segments further on
(`restore_margin`): after a crash the point may be that old, and a CDN may hold every URL
the lost run announced.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from packager.resume import ResumeTracker
from server.delivery.live_state import LiveStream
from server.media.worker_process import WorkerProcess
from server.metrics.stream_meter import StreamMeter
from transcode.contract import (
    ClearDvr,
    Ended,
    Event,
    Init,
    Mpd,
    Part,
    Removed,
    Segment,
    SetDvrWindow,
    TsSegment,
)

log = logging.getLogger("headwater.supervisor")

ENDED_GRACE = 10.0  # seconds a worker's last media (and, if nobody follows, its final playlists) stay up
FINISH_TIMEOUT = 15.0  # seconds a starting worker waits for the one before it to exit
RESUME_EVENTS = (Part, Segment, Init, TsSegment, Mpd)  # what `ResumeTracker.observe` reads
SAVE_EVERY = 10.0  # seconds between stored resume points while segments come
SAVED_AT_ONCE = (Init, Ended)  # a worker's outputs start or end: store the point now


def restore_margin(segment_target: float) -> int:
    """Segments a stored point may be behind: those of SAVE_EVERY (segments last at least
    the target), and one being announced as the node went down."""
    return math.ceil(SAVE_EVERY / segment_target) + 1


class Succession:
    def __init__(
        self,
        stream_id: int,
        directory: Path,
        save: Callable[[dict], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        meter: StreamMeter | None = None,
    ) -> None:
        """`save(point)` stores the resume point (JSON) with the stream; `meter` counts for
        /metrics across every worker and delivery state of the stream."""
        self.stream_id = stream_id
        self.meter = meter or StreamMeter()
        self.directory = directory
        self.resume = ResumeTracker()
        self.save = save
        self.clock = clock
        self._saved_at = -math.inf
        self._saved_timeline = None  # the MPD clock in the last stored point
        self.carries = False  # the worker whose turn it is follows a crashed one
        self.live: LiveStream | None = None  # what the node serves of the stream
        self.holder: WorkerProcess | None = None  # the worker `live` follows
        self._last: tuple[WorkerProcess, asyncio.Future] | None = None  # the newest worker, its turn's end
        self._forget: asyncio.TimerHandle | None = None
        self._removal: asyncio.Future | None = None  # the forgotten directory's removal, running
        self.dvr_seconds: float | None = None  # the stream's DVR window (None: DVR off)
        self.kept = False  # an ended DVR window stays served until the stream is live again or deleted

    @asynccontextmanager
    async def turn(self, worker: WorkerProcess) -> AsyncIterator[LiveStream]:
        """`worker`'s time on the stream. Entered once the worker before it has exited and its
        owner has left that one's turn; yields the delivery state `worker` feeds. Start the
        worker inside, with `resume.point()`, and leave once it has exited (after `end` if
        no successor is to take its state over)."""
        previous, done = self._last, asyncio.get_running_loop().create_future()
        self._last = (worker, done)
        try:
            if previous is not None:
                await self._exit_of(*previous)
            await self._removed()
            yield self._open(worker)
        finally:
            done.set_result(None)

    async def _exit_of(self, worker: WorkerProcess, done: asyncio.Future) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(done), FINISH_TIMEOUT)
        except TimeoutError:
            log.warning(
                "stream %s: the previous worker did not exit in %.0fs; killing it", self.stream_id, FINISH_TIMEOUT
            )
            worker.kill()
            await done

    def _open(self, worker: WorkerProcess) -> LiveStream:
        """The stream's state, taken over if the last worker's is still up (crashed, or ended
        within ENDED_GRACE): the new worker writes next to the old files, since no name
        collides, and the old media are retired by name after ENDED_GRACE. Else a new state
        in the directory the last one's removal emptied."""
        loop = asyncio.get_running_loop()
        if self._forget is not None:
            self._forget.cancel()
            self._forget = None
        self.kept = False  # a kept window's files go ENDED_GRACE after the new worker starts
        live = self.live
        # A crashed predecessor (its state not ended) leaves players mid-window: the new
        # worker lists that window on (`resume.point(carry=True)`).
        self.carries = live is not None and live.ended_at is None
        if not self.carries:
            self.resume.forget_windows()
        if live is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            live = self.live = LiveStream(self.stream_id, self.directory, loop, self.meter)
        else:
            old = live.take_over()
            loop.call_later(ENDED_GRACE, self._retire, live, old)
        self.holder = worker
        return live

    def _retire(self, live: LiveStream, paths: set[str]) -> None:
        """The old worker's media, but what the new one carried on (its window deletes those)."""
        if self.live is live:  # else its directory went with it
            asyncio.get_running_loop().create_task(remove_media(live, paths))

    def observe(self, event: Event) -> None:
        """An event of the stream's worker (there is one at a time)."""
        if isinstance(event, RESUME_EVENTS):
            self.resume.observe(event.plain())  # packager/ speaks plain dicts
        if self.live is not None and not isinstance(event, Ended):  # `ended` comes from `end`
            self.live.apply(event)
        if self.save is not None and self._save_due(event):
            point = self.resume.point()
            if point is not None:
                self._saved_at, self._saved_timeline = self.clock(), point.timeline
                self.save(point.to_json())

    def _save_due(self, event: Event) -> bool:
        """At once when outputs start or end and when the MPD's clock is first known (a restarted
        node's MPD keeps it); else every SAVE_EVERY seconds while segments come."""
        if isinstance(event, SAVED_AT_ONCE) or (
            isinstance(event, Mpd) and self.resume.timeline is not None and self._saved_timeline is None
        ):
            return True
        return isinstance(event, (Segment, TsSegment)) and self.clock() - self._saved_at >= SAVE_EVERY

    # -- the DVR window -----------------------------------------------------------------------
    def set_dvr(self, dvr_seconds: float | None) -> None:
        """The stream's DVR settings (at node start and after every API change): the running
        worker follows at once (SetDvrWindow); the next one gets it in its WorkerConfig. An
        ended window kept for DVR goes when DVR is switched off."""
        if dvr_seconds == self.dvr_seconds:
            return
        self.dvr_seconds = dvr_seconds
        if self.holder is not None and self.live is not None and self.live.ended_at is None:
            self.holder.send(SetDvrWindow(dvr_seconds))
        if dvr_seconds is None and self.kept:
            self.discard()

    def clear_dvr(self) -> bool:
        """clear_dvr: the running worker restarts its window at the live edge. False when no
        worker of the stream runs here."""
        if self.holder is None or self.live is None or self.live.ended_at is not None:
            return False
        return self.holder.send(ClearDvr())

    def discard(self) -> None:
        """The stream was deleted (or its kept window is no longer wanted): an ended window
        goes now. A running worker's outputs end with it as usual."""
        if self.live is not None and self.live.ended_at is not None:
            if self._forget is not None:
                self._forget.cancel()
            self.kept = False
            self._forget_live()

    def end(self, worker: WorkerProcess) -> None:
        """`worker` is done and no successor is expected: its final playlists stay up for
        ENDED_GRACE (ENDLIST reaches players), then go with the directory, unless a worker
        starting meanwhile takes them over. Nothing if a successor already has. With DVR the
        window stays (EXT-X-ENDLIST, a static MPD) until the stream is live again (the new
        worker takes the state over and retires the old files) or deleted (`discard`)."""
        live = self.live
        if self.holder is not worker or live is None or live.ended_at is not None:
            return
        live.apply(Ended())
        if self.dvr_seconds is not None:
            self.kept = True
            log.info("stream %s ended: its DVR window stays served until it is live again or deleted", self.stream_id)
            return
        self._forget = asyncio.get_running_loop().call_later(ENDED_GRACE, self._forget_live)

    def _forget_live(self) -> None:
        """The directory goes on a thread: each unlink can wait for its TRIM (100-375 ms
        under load on a `discard` mount), which on the loop would stall every viewer and
        publisher. A worker whose turn comes meanwhile waits for it (`_removed`)."""
        self._forget = None
        self.live = self.holder = None
        self._removal = asyncio.ensure_future(asyncio.to_thread(shutil.rmtree, self.directory, True))

    async def _removed(self) -> None:
        removal, self._removal = self._removal, None
        if removal is not None:
            await removal


async def remove_media(live: LiveStream, paths: set[str]) -> None:
    """Stop serving a previous worker's media and delete their files (off the loop: an
    unlink can wait for its TRIM), all but those its successor carried on (`live.adopted`;
    a part's file is its segment's)."""
    paths = paths - live.adopted
    files = {live.ranges[path][0] if path in live.ranges else path for path in paths} - live.adopted
    live.apply(Removed(paths=sorted(paths)))
    await asyncio.to_thread(_unlink_all, live.directory, files)


def _unlink_all(directory: Path, paths: set[str]) -> None:
    for path in paths:
        (directory / path).unlink(missing_ok=True)
