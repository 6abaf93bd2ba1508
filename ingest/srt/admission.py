"""Who may publish over SRT, decided before a caller's handshake completes, then admitted.

libsrt calls the listen callback on its own receive thread before the handshake completes: it
parses the streamid, asks the node (`vet`) whether the caller may publish, and sets the
stream's passphrase on the new socket (a wrong or missing passphrase then fails the handshake
in libsrt) or rejects with an SRT reject code the caller sees as is. No data flows before that.
That thread receives every SRT stream's packets: `vet` answers from the node's memory and
never waits on the event loop, so a caller never pauses the streams that flow.
Once accepted, the node admits the caller on the loop (`authorize`), which gives its sink.

Why here and not in the node: SRT has no later moment to refuse with a reason, and a
passphrase can only be set on the socket before the handshake completes.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from ingest.publish import Authorize, PublishRejected, PublishRequest, PublishSink, Vet
from ingest.srt import libsrt
from ingest.srt.callers import VETTED_TTL, Callers, SrtConnection
from ingest.srt.libsrt import lib
from ingest.srt.streamid import StreamIdError, parse_stream_id
from ingest.srt.threads import call_on_loop

log = logging.getLogger("headwater.ingest.srt")

MAX_CALLERS = 256  # connected + vetted callers, hence reader threads; more are refused (1402)


class SrtAdmission:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        vet: Vet,
        authorize: Authorize,
        callers: Callers,
        stopping: threading.Event,
    ) -> None:
        self._loop = loop
        self._vet = vet
        self._authorize = authorize
        self._callers = callers
        self._stopping = stopping
        self.listen_callback = libsrt.LISTEN_CALLBACK(self._on_listen)  # must outlive the listener

    # -- the listen callback (libsrt's thread) -------------------------------------------------
    def _on_listen(self, opaque: object, sock: int, hs_version: int, peer: int | None, streamid: bytes | None) -> int:
        """Accept (0) or reject (-1, with a reason) a caller before its handshake completes.

        Nothing may escape: ctypes would print the exception and return 0, i.e. accept."""
        try:
            return self._vet_caller(sock, libsrt.peer_text(peer), streamid)
        except Exception:
            log.exception("srt: the listen callback failed")
            lib.srt_setrejectreason(sock, libsrt.REJECT_OVERLOAD)
            return -1

    def _vet_caller(self, sock: int, peer_text: str, streamid: bytes | None) -> int:
        if self._stopping.is_set():
            return _reject(sock, libsrt.REJECT_OVERLOAD, peer_text, "server shutting down")
        self._forget_stale_vetted()
        releasing, callers = self._callers.knock()
        if releasing:  # the listener is closing under this caller: it may call again at once
            return _reject(sock, libsrt.REJECT_OVERLOAD, peer_text, "SRT port being released")
        if callers >= MAX_CALLERS:
            return _reject(sock, libsrt.REJECT_OVERLOAD, peer_text, f"{callers} SRT callers already")
        try:
            stream_id = parse_stream_id((streamid or b"").decode("utf-8", errors="strict"))
        except (StreamIdError, UnicodeDecodeError):
            return _reject(sock, libsrt.REJECT_NOT_FOUND, peer_text, "malformed or missing streamid")
        request = PublishRequest("srt", stream_id.app, stream_id.name, stream_id.token, peer_text)
        try:
            passphrase = self._vet(request)
        except PublishRejected as rejected:
            if rejected.throttled:  # the node logs those once per burst
                lib.srt_setrejectreason(sock, libsrt.REJECT_OVERLOAD)
                return -1
            return _reject(
                sock, _reject_code(rejected), peer_text, f"{stream_id.app}/{stream_id.name}: {rejected.reason}"
            )
        try:
            if passphrase:
                libsrt.set_bytes(sock, libsrt.SRTO_PASSPHRASE, passphrase.encode())
        except libsrt.SrtError:
            return _reject(
                sock,
                libsrt.REJECT_FORBIDDEN,
                peer_text,
                f"stream {stream_id.name}: its passphrase is unusable for libsrt (10-79 chars)",
            )
        self._callers.vetted(sock, request)
        # nobody else looks at the vetted callers while no caller comes: the loop checks them once stale
        call_on_loop(self._loop, self._loop.call_later, VETTED_TTL + 1, self._forget_stale_vetted)
        return 0

    def _forget_stale_vetted(self) -> None:
        """Callers vetted but never accepted (e.g. wrong passphrase) are dropped after a while."""
        for request in self._callers.forget_stale_vetted():
            log.info(
                "srt %s (%s/%s) never completed its handshake (wrong or missing passphrase?)",
                request.peer,
                request.app,
                request.name,
            )

    # -- admission (event loop) ---------------------------------------------------------------
    async def admit(self, connection: SrtConnection) -> PublishSink | None:
        """The node's sink for an accepted caller, None when the node refuses it (logged)."""
        try:
            return await self._authorize(connection.request)
        except PublishRejected as rejected:
            if not rejected.throttled:
                log.info("srt %s refused after connecting: %s", connection.label, rejected.reason)
        except Exception:
            log.exception("srt %s: admitting the caller failed", connection.label)
        return None


def _reject(sock: int, code: int, peer: str, why: str) -> int:
    lib.srt_setrejectreason(sock, code)
    log.info("srt %s refused (%d): %s", peer, code, why)
    return -1


def _reject_code(rejected: PublishRejected) -> int:
    if rejected.unknown_stream:
        return libsrt.REJECT_NOT_FOUND
    if rejected.busy:
        return libsrt.REJECT_CONFLICT
    return libsrt.REJECT_FORBIDDEN
