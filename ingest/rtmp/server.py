"""The RTMP/RTMPS listener: accepts connections and keeps track of their sessions."""

from __future__ import annotations

import asyncio
import logging
import ssl

from ingest.publish import Authorize
from ingest.rtmp.rests import RestTicker
from ingest.rtmp.session import RtmpSession, SessionLimits

log = logging.getLogger("headwater.ingest.rtmp")


class RtmpServer:
    """Listens for publishers; RTMPS when given an ``ssl_context`` (pass protocol="rtmps")."""

    def __init__(
        self,
        authorize: Authorize,
        *,
        ssl_context: ssl.SSLContext | None = None,
        protocol: str = "rtmp",
        handshake_timeout: float = SessionLimits.handshake_timeout,
        idle_timeout: float = SessionLimits.idle_timeout,
        max_message_length: int = SessionLimits.max_message_length,
        read_interval: float = SessionLimits.read_interval,
        publish_timeout: float = SessionLimits.publish_timeout,
    ) -> None:
        self._authorize = authorize
        self._ssl_context = ssl_context
        self._protocol = protocol
        self._limits = SessionLimits(
            handshake_timeout, idle_timeout, max_message_length, read_interval, publish_timeout=publish_timeout
        )
        self._server: asyncio.Server | None = None
        self._sessions: set[RtmpSession] = set()
        self._rests = RestTicker(read_interval) if read_interval else None

    async def start(self, host: str, port: int) -> None:
        """Start listening; port 0 picks a free port (see ``port``)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_session, host, port, ssl=self._ssl_context)
        log.info("%s listening on %s:%d", self._protocol, host, self.port)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end every session (their sinks get close())."""
        if self._server is None:
            return
        self._server.close()
        for session in list(self._sessions):
            session.cancel_authorization()
            session.close("server shutting down")
        await self._server.wait_closed()
        self._server = None
        if self._rests is not None:
            self._rests.close()

    def _new_session(self) -> RtmpSession:
        session = RtmpSession(self._authorize, self._protocol, self._limits, self._sessions.discard, self._rests)
        self._sessions.add(session)
        return session
