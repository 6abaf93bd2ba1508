"""WHIP sessions on the node: admission, one worker per session, the answer relayed back.

The node never touches the media: it checks the stream, token and slot, starts a worker with
the offer in its WorkerConfig (sent over the worker's stdin, never its command line), and
waits for the worker's `WhipAnswer` (or `WhipFailed`), which `WorkerEvents` hands to `answer`.
The session resource (`/whip/<id>/<session>`) is named by 128 random bits.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets

from server.db.models import Stream
from server.db.streams import StreamRepository
from server.media.ladders import ladder_of
from server.media.worker_events import WorkerEvents
from server.media.worker_process import WorkerProcess
from transcode.contract import Rendition, WhipAnswer, WhipFailed

log = logging.getLogger("headwater.whip")

ANSWER_TIMEOUT = 25.0  # seconds the node waits for the worker's answer


class WhipRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WhipSession:
    def __init__(self, manager: WhipSessions, stream: Stream) -> None:
        self.manager = manager
        self.stream_id = stream.id
        self.id = secrets.token_urlsafe(16)
        self.mpegts_endlist = stream.hls_mpegts_endlist_tag
        self.answer: asyncio.Future[WhipAnswer | WhipFailed] = asyncio.get_running_loop().create_future()
        self.worker: WorkerProcess | None = None
        self.events = WorkerEvents(manager.supervisor, self.stream_id, lambda: "webrtc", self.answer)

    async def start(self, offer: str, renditions: list[Rendition]) -> str:
        self.worker = worker = WorkerProcess(self.stream_id, self.events)
        asyncio.create_task(self._run(worker, offer, renditions))
        try:
            answer = await asyncio.wait_for(asyncio.shield(self.answer), ANSWER_TIMEOUT)
        except asyncio.TimeoutError:
            worker.kill()
            raise WhipRefused(503, "the media worker did not answer the offer in time") from None
        if isinstance(answer, WhipFailed):
            raise WhipRefused(answer.status, answer.message)
        return answer.sdp

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.finish()

    async def _run(self, worker: WorkerProcess, offer: str, renditions: list[Rendition]) -> None:
        """The worker's turn on the stream (server/media/succession.py): it starts once the
        stream's previous worker has exited, and continues its outputs."""
        supervisor = self.manager.supervisor
        settings = supervisor.settings
        succession = supervisor.succession(self.stream_id)
        code = None
        try:
            async with succession.turn(worker):
                await worker.start(supervisor.worker_config(
                    self.stream_id, self.mpegts_endlist, renditions, whip_offer=offer,
                    whip_ice_loopback=settings.whip_ice_loopback, whip_media_timeout=settings.whip_media_timeout))
                code = await worker.wait(timeout=None)
                succession.end(worker)
        finally:
            self.events.went_offline()
            if not self.answer.done():
                self.answer.set_exception(WhipRefused(500, f"the media worker exited ({code}) before answering"))
            log.info("stream %s: WHIP session ended (worker exit %s)", self.stream_id, code)
            self.manager.ended(self)


class WhipSessions:
    def __init__(self, supervisor, slot_taken) -> None:
        self.supervisor = supervisor
        self.slot_taken = slot_taken  # (stream_id) -> bool: another ingest holds the stream
        self.by_stream: dict[int, WhipSession] = {}

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
        if stream_id in self.by_stream or self.slot_taken(stream_id):
            raise WhipRefused(409, f"stream {stream_id} already has a publisher")
        return stream, renditions

    async def open(self, stream: Stream, offer: str, renditions: list[Rendition]) -> tuple[WhipSession, str]:
        """Start the session of an admitted stream; the slot is checked again and taken
        without awaiting in between, so two racing offers cannot both get it."""
        stream_id = stream.id
        if stream_id in self.by_stream or self.slot_taken(stream_id):
            raise WhipRefused(409, f"stream {stream_id} already has a publisher")
        session = WhipSession(self, stream)
        self.by_stream[stream_id] = session
        try:
            answer = await session.start(offer, renditions)
        except BaseException:
            session.stop()
            if self.by_stream.get(stream_id) is session:
                del self.by_stream[stream_id]
            raise
        log.info("stream %s: WHIP session %s… started", stream_id, session.id[:4])
        return session, answer

    def find(self, stream_id: int, session_id: str) -> WhipSession | None:
        session = self.by_stream.get(stream_id)
        if session is not None and hmac.compare_digest(session.id.encode(), session_id.encode()):
            return session
        return None

    def ended(self, session: WhipSession) -> None:
        if self.by_stream.get(session.stream_id) is session:
            del self.by_stream[session.stream_id]

    async def stream_changed(self, stream_id: int) -> None:
        """A deleted or deactivated stream loses its WHIP session."""
        session = self.by_stream.get(stream_id)
        if session is None:
            return
        async with self.supervisor.db_sessions() as db:
            stream = await StreamRepository(db).get(stream_id)
        if stream is None or not stream.active:
            session.stop()

    async def close(self) -> None:
        sessions = list(self.by_stream.values())
        for session in sessions:
            session.stop()
        await asyncio.gather(*(s.worker.wait() for s in sessions if s.worker and s.worker.process),
                             return_exceptions=True)
