"""The supervisor: admits publishers, runs one worker per live stream, keeps status true.

A publisher is admitted when its stream exists, is active, the token matches and its slot is
free. Its media then flows publisher → `Publication.write` → the worker's stdin. Worker
events update the in-memory delivery state (playlists, parts) and the stream's DB row. A
worker that dies while its publisher is still sending is restarted at the next keyframe; a
publisher silent for `publish_idle_timeout` has its worker stopped cleanly.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import shutil
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingest.media import MediaMessage
from ingest.publish import PublishRejected, PublishRequest
from server.db.models import QualitySet, Stream
from server.delivery.live_state import LiveStream
from server.media.flv_feed import FlvFeed
from server.media.status import StatusWriter
from server.media.worker_process import WorkerProcess
from server.settings import Settings
from server.urls import MAIN_APP

log = logging.getLogger("headwater.supervisor")

ENDED_GRACE = 10.0  # seconds a finished stream's final playlists stay up (ENDLIST reaches players)


class Publication:
    """One admitted publisher of one stream (a PublishSink for the ingest servers)."""

    def __init__(self, supervisor: Supervisor, stream: Stream, request: PublishRequest,
                 renditions: list[dict] | None = None) -> None:
        self.supervisor = supervisor
        self.renditions = renditions or []
        self.stream_id = stream.id
        self.source_type = "rtmp" if request.protocol in ("rtmp", "rtmps") else request.protocol
        self.peer = request.peer
        self.mpegts_endlist = stream.hls_mpegts_endlist_tag
        self.feed = FlvFeed()
        self.worker: WorkerProcess | None = None
        self.restarts = 0
        self.last_data = time.monotonic()
        self.closed = False
        self.dropped: str | None = None
        self.watchdog = asyncio.create_task(self._watch_idle())

    # -- PublishSink ---------------------------------------------------------------------
    def write(self, message: MediaMessage) -> None:
        if self.dropped is not None:
            raise PublishRejected(self.dropped)  # the ingest server closes the connection
        if self.closed:
            return
        self.last_data = time.monotonic()
        data = self.feed.bytes_for(message)
        if self.worker is None:
            self._start_worker(self.feed.restart() + data)
        elif not self.worker.feed(data):
            self._worker_lost()

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.watchdog.cancel()
        log.info("stream %s: publisher %s left (%s)", self.stream_id, self.peer, reason)
        asyncio.create_task(self._stop_worker())
        self.supervisor.publication_closed(self)

    def drop(self, reason: str) -> None:
        """Disconnect the publisher at its next message (the ingest server owns the socket)."""
        log.info("stream %s: dropping publisher %s (%s)", self.stream_id, self.peer, reason)
        self.dropped = reason

    # -- worker lifecycle --------------------------------------------------------------------
    def _start_worker(self, first_bytes: bytes) -> None:
        self.worker = worker = WorkerProcess(
            self.stream_id, self.supervisor.worker_config(self), self._on_event
        )
        live = self.supervisor.open_live(self.stream_id)
        worker.feed(first_bytes)  # queued now, so it precedes whatever arrives during the spawn

        async def run() -> None:
            await worker.start()
            code = await worker.wait(timeout=None)
            self._worker_exited(worker, code, live)

        asyncio.create_task(run())

    def _on_event(self, event: dict) -> None:
        self.supervisor.on_worker_event(self, event)

    def _worker_exited(self, worker: WorkerProcess, code: int, live: LiveStream) -> None:
        self.supervisor.close_live(self.stream_id, live)
        if self.worker is worker:
            self.worker = None
        if self.closed or code == 0:
            self.supervisor.status.went_offline(self.stream_id)
            return
        self.restarts += 1
        if self.restarts > self.supervisor.settings.worker_restart_limit:
            log.error("stream %s: worker failed %d times; giving up until the publisher reconnects",
                      self.stream_id, self.restarts)
            self.supervisor.status.went_offline(self.stream_id)
            self.closed = True
            return
        log.warning("stream %s: worker exited with %s; restarting at the next keyframe",
                    self.stream_id, code)

    def _worker_lost(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.kill()

    async def _stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.finish()

    async def _watch_idle(self) -> None:
        timeout = self.supervisor.settings.publish_idle_timeout
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            if self.worker is not None and time.monotonic() - self.last_data > timeout:
                log.warning("stream %s: no data for %.0fs; stopping its worker", self.stream_id, timeout)
                worker, self.worker = self.worker, None
                worker.finish()


class Supervisor:
    def __init__(self, settings: Settings, sessions: async_sessionmaker) -> None:
        self.settings = settings
        self.sessions = sessions
        self.status = StatusWriter(sessions)
        self.publications: dict[int, Publication] = {}
        self.live: dict[int, LiveStream] = {}

    async def start(self) -> None:
        await self.status.reset_all()
        self.status.start()

    # -- admission ---------------------------------------------------------------------------
    async def authorize(self, request: PublishRequest) -> Publication:
        if request.app != MAIN_APP:
            raise PublishRejected(f"unknown application {request.app!r}", unknown_stream=True)
        if not request.name.isdigit():
            raise PublishRejected("unknown stream", unknown_stream=True)
        stream_id = int(request.name)
        async with self.sessions() as session:
            stream = await session.get(Stream, stream_id)
            renditions = await ladder_of(session, stream) if stream is not None else []
        if stream is None:
            raise PublishRejected(f"unknown stream {stream_id}", unknown_stream=True)
        if not hmac.compare_digest(request.query.encode(), stream.token.encode()):
            raise PublishRejected(f"wrong token for stream {stream_id}")
        if not stream.active:
            raise PublishRejected(f"stream {stream_id} is not active")
        if stream_id in self.publications:
            raise PublishRejected(f"stream {stream_id} already has a publisher")
        publication = Publication(self, stream, request, renditions)
        self.publications[stream_id] = publication
        log.info("stream %s: publisher %s admitted (%s)", stream_id, request.peer, request.protocol)
        return publication

    def publication_closed(self, publication: Publication) -> None:
        if self.publications.get(publication.stream_id) is publication:
            del self.publications[publication.stream_id]

    async def stream_changed(self, stream_id: int) -> None:
        """After an API change: a deleted or deactivated stream loses its publisher."""
        publication = self.publications.get(stream_id)
        if publication is None:
            return
        async with self.sessions() as session:
            stream = await session.get(Stream, stream_id)
        if stream is None or not stream.active:
            publication.drop("stream deleted or deactivated")

    # -- workers and their output -------------------------------------------------------------
    def worker_config(self, publication: Publication) -> dict:
        return {
            "stream_id": publication.stream_id,
            "out_dir": str(self.output_dir(publication.stream_id)),
            "part_target": self.settings.part_target,
            "segment_target": self.settings.segment_target,
            "window_segments": self.settings.live_window_segments,
            "mpegts_endlist": publication.mpegts_endlist,
            "renditions": publication.renditions,
            "x264_preset": self.settings.x264_preset,
            "hardware_encoder": self.settings.hardware_encoder,
            "degrade_after": self.settings.transcode_degrade_after,
        }

    def output_dir(self, stream_id: int):
        return self.settings.live_dir / str(stream_id)

    def open_live(self, stream_id: int) -> LiveStream:
        """A fresh output directory and delivery state for a worker that is starting."""
        directory = self.output_dir(stream_id)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
        live = LiveStream(stream_id, directory, asyncio.get_running_loop())
        self.live[stream_id] = live
        return live

    def close_live(self, stream_id: int, live: LiveStream) -> None:
        """Keep the final playlists up briefly so players see the end, then forget them."""
        live.apply({"event": "ended"})

        def forget() -> None:
            if self.live.get(stream_id) is live:
                del self.live[stream_id]
                shutil.rmtree(live.directory, ignore_errors=True)

        asyncio.get_running_loop().call_later(ENDED_GRACE, forget)

    def lookup(self, stream_id: int) -> LiveStream | None:
        return self.live.get(stream_id)

    def on_worker_event(self, publication: Publication, event: dict) -> None:
        kind = event.get("event")
        live = self.live.get(publication.stream_id)
        if live is not None and kind != "ended":
            live.apply(event)
        if kind == "started":
            self.status.went_live(publication.stream_id, publication.source_type, event)
        elif kind == "stats":
            self.status.stats(publication.stream_id, event)
        elif kind == "degraded":
            log.warning("stream %s: transcoder dropped %s (%s)", publication.stream_id,
                        event.get("dropped"), event.get("reason"))
            self.status.set(publication.stream_id, transcoded_qualities=event.get("renditions", []))
        elif kind == "error":
            log.error("stream %s worker: %s", publication.stream_id, event.get("message"))

    async def close(self) -> None:
        publications = list(self.publications.values())
        workers = [p.worker for p in publications if p.worker]
        for publication in publications:
            publication.close("node shutting down")
        await asyncio.gather(*(w.wait() for w in workers), return_exceptions=True)
        await self.status.close()


async def ladder_of(session: AsyncSession, stream: Stream) -> list[dict]:
    """The renditions a publish of `stream` gets: its own live quality set, else the account
    default (`PUT /streaming/quality_sets/default`); the built-in "origin" set has none."""
    quality_set = await session.get(QualitySet, stream.quality_set_id) if stream.quality_set_id else None
    if quality_set is None or quality_set.kind != "live":
        quality_set = await session.scalar(
            select(QualitySet).where(QualitySet.kind == "live", QualitySet.is_default.is_(True))
        )
    if quality_set is None:
        return []
    return [
        {"name": q.name, "width": q.width, "height": q.height, "video_bitrate": q.video_bitrate,
         "audio_bitrate": q.audio_bitrate, "max_frame_rate": q.max_frame_rate}
        for q in quality_set.qualities
    ]
