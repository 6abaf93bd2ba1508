"""The media side of a node: the supervisor and the ingest listeners, started with the app."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingest.publish import PublishRejected, PublishRequest
from ingest.rtmp.server import RtmpServer
from ingest.srt.server import SrtServer
from server.cluster.cluster import Cluster
from server.db.models import Video
from server.db.outage import DATABASE_ERRORS, is_unavailable
from server.delivery.live_state import LiveStream
from server.failed_attempts import FailedAttempts
from server.media.clips import Clip, Clips
from server.media.pull import PullManager
from server.media.supervisor import Supervisor
from server.media.whip import WhipSessions
from server.settings import Settings
from server.storage import RecordingStorage
from server.webhooks.outbox import Outbox

log = logging.getLogger("headwater.media")

T = TypeVar("T")


def refused_while_database_away(
    admit: Callable[[PublishRequest], Awaitable[T]],
) -> Callable[[PublishRequest], Awaitable[T]]:
    """The admission check (`authorize`; `vet` answers from memory) refusing a publisher while the database is
    away (`server/db/outage.py`), as the listeners refuse anyone: one log line, and the
    encoder tries again as it does after any refusal (it was a traceback per attempt)."""

    async def admit_or_refuse(request: PublishRequest) -> T:
        try:
            return await admit(request)
        except DATABASE_ERRORS as error:
            if not is_unavailable(error):
                raise
            raise PublishRejected("database unavailable; try again shortly") from error

    return admit_or_refuse


class NodeMedia:
    def __init__(
        self,
        settings: Settings,
        db_sessions: async_sessionmaker[AsyncSession],
        storage: RecordingStorage | None = None,
        outbox: Outbox | None = None,
        failed_attempts: FailedAttempts | None = None,
    ) -> None:
        self.settings = settings
        self.cluster = Cluster(settings, db_sessions)
        self.supervisor = Supervisor(settings, db_sessions, storage, self.cluster, outbox, failed_attempts)
        self.pull = PullManager(self.supervisor)
        self.whip = WhipSessions(self.supervisor)  # the kinds of source share `supervisor.sources`
        self.listeners: list[RtmpServer | SrtServer] = []
        self.clips = Clips(settings.data_dir / "clips", self.lookup, self._video_of_clip)

    async def start(self) -> None:
        self.clips.start()
        await self.cluster.start()
        await self.supervisor.start()
        host = self.settings.http_host
        read_interval = self.settings.ingest_read_interval
        publish_timeout = self.settings.ingest_publish_timeout
        authorize = refused_while_database_away(self.supervisor.authorize)
        rtmp = RtmpServer(authorize, read_interval=read_interval, publish_timeout=publish_timeout)
        await rtmp.start(host, self.settings.rtmp_port)
        self.listeners.append(rtmp)
        log.info("RTMP ingest on %s:%d", host, rtmp.port)
        if self.settings.rtmps_enabled:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.settings.rtmps_cert_file, self.settings.rtmps_key_file)
            rtmps = RtmpServer(
                authorize,
                ssl_context=context,
                protocol="rtmps",
                read_interval=read_interval,
                publish_timeout=publish_timeout,
            )
            await rtmps.start(host, self.settings.rtmps_port)
            self.listeners.append(rtmps)
            log.info("RTMPS ingest on %s:%d", host, rtmps.port)
        srt = SrtServer(
            self.supervisor.vet,
            authorize,
            latency_ms=self.settings.srt_latency_ms,
            publish_timeout=publish_timeout,
        )
        await srt.start(host, self.settings.srt_port)
        self.listeners.append(srt)
        log.info("SRT ingest on %s:%d", host, srt.port)
        await self.pull.start()

    def lookup(self, stream_id: int) -> LiveStream | None:
        return self.supervisor.lookup(stream_id)

    async def _video_of_clip(self, clip: Clip, directory: Path) -> int | None:
        """`vod_required`: the clip's top rendition becomes a video in the library."""
        started = datetime.fromtimestamp(clip.start, UTC)
        record_type = "origin" if clip.renditions[0] == "origin" else "transcoded"
        return await self.supervisor.recordings.video_of_clip(clip.stream_id, directory, started, record_type)

    def clear_dvr(self, stream_id: int) -> bool:
        """Restart the stream's DVR window at the live edge; False when no worker runs it here."""
        return self.supervisor.clear_dvr(stream_id)

    def start_recording(self, stream_id: int) -> bool:
        """The stream's worker records from its next keyframe; False when none runs here."""
        supervisor = self.supervisor
        return supervisor.recordings.start_recording(stream_id, supervisor.recording_worker(stream_id))

    async def stop_recording(self, stream_id: int) -> Video | None:
        """The video of the recording stopped, None when nothing was recording."""
        return await self.supervisor.recordings.stop_recording(stream_id)

    async def stream_changed(self, stream_id: int) -> None:
        await self.supervisor.stream_changed(stream_id)
        await self.supervisor.restreams.changed(stream_id)  # a deleted stream's went with it
        await self.pull.sync(stream_id)
        await self.whip.stream_changed(stream_id)

    async def restreams_changed(self, stream_id: int) -> None:
        """The stream's restreams changed in the API: its running worker follows at once."""
        await self.supervisor.restreams.changed(stream_id)

    async def close(self) -> None:
        await self.clips.close()
        for listener in self.listeners:
            await listener.close()
        await self.pull.close()
        await self.whip.close()
        await self.supervisor.close()
        await self.cluster.close()
