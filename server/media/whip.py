"""WHIP sessions on the node: admission, one worker per session, the answer relayed back.

A `WhipSession` is the `StreamSource` (server/media/source.py) of a stream a browser publishes
to with WHIP. The node never touches the media (the worker runs the peer: ingest/whip/): it
checks the stream, token and slot, starts a worker with the offer in its WorkerConfig (sent over
the worker's stdin, never its command line), and waits for the worker's `WhipAnswer` (or
`WhipFailed`), which `WorkerEvents` hands to `answered`. The session resource
(`/whip/<id>/<session>`) is named by 128 random bits."""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from typing import TYPE_CHECKING, Any

from server.cluster.cluster import OwnedElsewhere, stream_key
from server.db.models import Stream
from server.db.streams import StreamRepository
from server.media.ladders import ladder_of
from server.media.source import StreamSource
from server.media.worker_process import WorkerProcess
from server.whip_sdp import with_public_host
from transcode.contract import Rendition, WhipAnswer, WhipFailed

if TYPE_CHECKING:
    from server.media.supervisor import Supervisor

log = logging.getLogger("headwater.whip")

ANSWER_TIMEOUT = 25.0  # seconds the node waits for the worker's answer


class WhipRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WhipSession(StreamSource):
    kind = "whip"

    def __init__(self, manager: WhipSessions, stream: Stream, offer: str, renditions: list[Rendition]) -> None:
        # html_overlay is read once: the peer lives in the worker, which cannot be replaced
        # (`replace_worker`), so a switch applies from the browser's next session
        super().__init__(
            manager.supervisor, stream.id, stream.hls_mpegts_endlist_tag, renditions, html_overlay=stream.html_overlay
        )
        self.manager = manager
        self.id = secrets.token_urlsafe(16)
        self.offer = offer
        self.answer: asyncio.Future[WhipAnswer | WhipFailed] = asyncio.get_running_loop().create_future()

    @property
    def source_type(self) -> str:
        return "webrtc"

    def worker_source(self) -> dict[str, Any]:
        settings = self.supervisor.settings
        return {
            "whip_offer": self.offer,
            "whip_ice_loopback": settings.whip_ice_loopback,
            "whip_media_timeout": settings.whip_media_timeout,
            "whip_udp_ports": settings.whip_udp_port_range,
            "whip_ice_servers": [server.to_json() for server in settings.whip_ice_server_list],
        }

    def answered(self, event: WhipAnswer | WhipFailed) -> None:
        if not self.answer.done():
            self.answer.set_result(event)

    async def start(self) -> str:
        worker = self.new_worker()
        self.worker_task = asyncio.create_task(self._run(worker))  # held: the loop keeps weak references
        try:
            answer = await asyncio.wait_for(asyncio.shield(self.answer), ANSWER_TIMEOUT)
        except TimeoutError:
            worker.kill()
            raise WhipRefused(503, "the media worker did not answer the offer in time") from None
        if isinstance(answer, WhipFailed):
            raise WhipRefused(answer.status, answer.message)
        public_host = self.supervisor.settings.whip_public_host
        return with_public_host(answer.sdp, public_host) if public_host else answer.sdp

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.finish()

    def give_up(self, reason: str) -> None:
        log.info("stream %s: ending its WHIP session (%s)", self.stream_id, reason)
        self.stop()

    def worker_exited(self, worker: WorkerProcess, code: int) -> None:
        super().worker_exited(worker, code)
        self.succession.end(worker)

    async def _run(self, worker: WorkerProcess) -> None:
        """The worker's turn on the stream (server/media/succession.py): it starts once the
        stream's previous worker has exited, and continues its outputs."""
        code = None
        try:
            code = await self.run_worker(worker)
        finally:
            if self.events is not None:
                self.events.went_offline()
            if not self.answer.done():
                self.answer.set_exception(WhipRefused(500, f"the media worker exited ({code}) before answering"))
            log.info("stream %s: WHIP session ended (worker exit %s)", self.stream_id, code)
            self.manager.ended(self)


class WhipSessions:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.sources = supervisor.sources  # a stream fed by any other source refuses WHIP

    async def admit(self, stream_id: int, token: str | None) -> tuple[Stream, list[Rendition]]:
        """The stream and its renditions, if this token may publish to it now; WhipRefused otherwise."""
        async with self.supervisor.db_sessions() as db:
            stream = await StreamRepository(db).get(stream_id)
            renditions = await ladder_of(db, stream) if stream is not None else []
        if stream is None:
            raise WhipRefused(404, f"unknown stream {stream_id}")
        if token is None:
            raise WhipRefused(401, "missing token: send Authorization: Bearer <stream token>")
        if not hmac.compare_digest(token.encode(), stream.token.encode()):
            raise WhipRefused(403, f"wrong token for stream {stream_id}")
        if not stream.active:
            raise WhipRefused(403, f"stream {stream_id} is not active")
        if self.sources.feeding(stream_id):
            raise WhipRefused(409, f"stream {stream_id} already has a publisher")
        holder = await self.supervisor.cluster.holder(stream_key(stream_id))
        if holder not in (None, self.supervisor.cluster.node_id):
            raise self._owned_elsewhere(stream_id, holder)
        return stream, renditions

    def _owned_elsewhere(self, stream_id: int, holder: str | None) -> WhipRefused:
        log.info("stream %s: WHIP offer refused: node %s runs it", stream_id, holder)
        return WhipRefused(409, f"stream {stream_id} is live on node {holder}")

    async def open(self, stream: Stream, offer: str, renditions: list[Rendition]) -> tuple[WhipSession, str]:
        """Start the session of an admitted stream under its lease (server/cluster/); the slot
        is checked again and taken without awaiting in between, so two racing offers cannot
        both get it."""
        stream_id = stream.id
        try:
            async with self.supervisor.owning(stream_id):
                if self.sources.feeding(stream_id):
                    raise WhipRefused(409, f"stream {stream_id} already has a publisher")
                if not self.supervisor.worker_starts.take(stream_id):  # a session is a worker
                    raise WhipRefused(429, f"stream {stream_id} started too many sessions lately: retry later")
                whip = WhipSession(self, stream, offer, renditions)
                self.sources.add(whip)
        except OwnedElsewhere as owned:
            raise self._owned_elsewhere(stream_id, owned.holder) from None
        try:
            answer = await whip.start()
        except BaseException:
            whip.stop()
            self.sources.remove(whip)
            raise
        log.info("stream %s: WHIP session %s… started", stream_id, whip.id[:4])
        return whip, answer

    def find(self, stream_id: int, session_id: str) -> WhipSession | None:
        whip = self.sources.find(stream_id, WhipSession)
        if whip is not None and hmac.compare_digest(whip.id.encode(), session_id.encode()):
            return whip
        return None

    def ended(self, whip: WhipSession) -> None:
        self.sources.remove(whip)

    async def stream_changed(self, stream_id: int) -> None:
        """A deleted or deactivated stream loses its WHIP session."""
        whip = self.sources.find(stream_id, WhipSession)
        if whip is None:
            return
        async with self.supervisor.db_sessions() as db:
            stream = await StreamRepository(db).get(stream_id)
        if stream is None or not stream.active:
            whip.stop()

    async def close(self) -> None:
        sessions = list(self.sources.every(WhipSession))
        for whip in sessions:
            whip.stop()
        await asyncio.gather(
            *(s.worker.wait() for s in sessions if s.worker and s.worker.process), return_exceptions=True
        )
