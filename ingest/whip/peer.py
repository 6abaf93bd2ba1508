"""The source of a WHIP stream: an aiortc peer connection inside the worker.

The node hands the worker the SDP offer; `open_session` answers it (or refuses it with an
HTTP status: `OfferRefused`), then the peer receives H.264 + Opus on its own asyncio loop in
a thread. `TsRemuxer` turns the media into MPEG-TS on a pipe, which the worker's main thread
demuxes (`TsPipeSource`) like any other source. The session ends when the worker stops the
peer (the node closed its stdin after a WHIP DELETE), the peer hangs up, the connection
fails, or no media comes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable

import aioice.ice
import av
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from ingest.demuxed import DemuxedSource
from ingest.whip.ice_servers import IceServer
from ingest.whip.media import TsRemuxer, keep_h264_encoded
from ingest.whip.udp_ports import pin_udp_ports

log = logging.getLogger("headwater.whip")

ANSWER_TIMEOUT = 15.0  # seconds to answer the offer (ICE gathering is host-only: quick)
TS_PROBE = {"probesize": "200000", "analyzeduration": "1000000"}


def allow_loopback_candidates() -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; add it (tests, same-host peers)."""
    original = aioice.ice.get_host_addresses

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = original(use_ipv4, use_ipv6)
        return [*addresses, "127.0.0.1"] if use_ipv4 else addresses

    aioice.ice.get_host_addresses = with_loopback


class OfferRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WhipPeer:
    """One peer connection on its own loop (thread); media goes into `remuxer`."""

    def __init__(
        self,
        offer: str,
        remuxer: TsRemuxer,
        *,
        keyframe_interval: float,
        media_timeout: float,
        udp_ports: tuple[int, int] | None = None,
        ice_servers: list[IceServer] | None = None,
    ) -> None:
        """`udp_ports`: the range the ICE sockets bind in (None: any free port); `ice_servers`:
        the STUN/TURN servers ICE gathers srflx/relay candidates from (none: host only)."""
        self.offer = offer
        self.udp_ports = udp_ports
        self.ice_servers = ice_servers or []
        self.remuxer = remuxer
        self.keyframe_interval = keyframe_interval
        self.media_timeout = media_timeout
        self.answer: concurrent.futures.Future[str] = concurrent.futures.Future()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped: asyncio.Event | None = None
        self.got_media = threading.Event()
        self.thread = threading.Thread(target=self._thread, name="webrtc", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """From any thread: end the session (the remuxer closes, the reader sees EOF)."""
        if self.loop is not None and self.stopped is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self.stopped.set)
            except RuntimeError:
                pass  # the loop closed meanwhile: the session is over anyway

    def _thread(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self.udp_ports is not None:
            pin_udp_ports(self.loop, self.udp_ports)
        self.stopped = asyncio.Event()
        servers = [RTCIceServer(s.url, s.username, s.credential) for s in self.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))  # [] keeps aiortc's default STUN away
        tasks: list[asyncio.Task] = []
        try:
            try:
                answer = await asyncio.wait_for(self._negotiate(pc, tasks), ANSWER_TIMEOUT)
            except OfferRefused as error:
                self.answer.set_exception(error)
                return
            except Exception as error:  # aiortc's parser and negotiation raise plain errors
                self.answer.set_exception(OfferRefused(400, f"cannot answer the offer: {error}"))
                return
            self.answer.set_result(answer)
            tasks.append(asyncio.create_task(self._request_keyframes(pc)))
            tasks.append(asyncio.create_task(self._watch_media()))
            await self.stopped.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await pc.close()
            self.remuxer.close()

    async def _negotiate(self, pc: RTCPeerConnection, tasks: list[asyncio.Task]) -> str:
        """H.264 and Opus recvonly transceivers first, so aiortc answers H.264 (not VP8)."""
        for kind, mime in (("video", "video/H264"), ("audio", "audio/opus")):
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            codecs = [c for c in RTCRtpReceiver.getCapabilities(kind).codecs if c.mimeType == mime]
            transceiver.setCodecPreferences(codecs)

        @pc.on("track")
        def on_track(track) -> None:
            pump = self._pump_video if track.kind == "video" else self._pump_audio
            tasks.append(asyncio.create_task(pump(track)))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            log.info("WebRTC connection %s", pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                self.stopped.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=self.offer, type="offer"))
        answer = await pc.createAnswer()
        if answer is None or "H264" not in answer.sdp or "opus" not in answer.sdp:
            raise OfferRefused(422, "the offer has no H.264 video and Opus audio in common with us")
        await pc.setLocalDescription(answer)
        return pc.localDescription.sdp

    async def _pump_video(self, track) -> None:
        await self._pump(track, self.remuxer.video_packet)

    async def _pump_audio(self, track) -> None:
        await self._pump(track, self.remuxer.audio_frame)

    async def _pump(self, track, sink: Callable) -> None:
        try:
            while True:
                item = await track.recv()
                self.got_media.set()
                sink(item)
        except MediaStreamError:
            log.info("the peer ended its %s track", track.kind)
            self.stopped.set()
        except Exception:
            log.exception("%s track failed", track.kind)
            self.stopped.set()

    async def _request_keyframes(self, pc: RTCPeerConnection) -> None:
        """Browsers send keyframes only when asked; ask once per segment so segments can cut.

        Uses aiortc's private `_send_rtcp_pli` (the version is pinned)."""
        while True:
            for transceiver in pc.getTransceivers():
                if transceiver.kind != "video":
                    continue
                receiver = transceiver.receiver
                for source in receiver.getSynchronizationSources():
                    await receiver._send_rtcp_pli(source.source)
            await asyncio.sleep(self.keyframe_interval)

    async def _watch_media(self) -> None:
        await asyncio.sleep(self.media_timeout)
        if not self.got_media.is_set():
            log.warning("no media %.0fs after the answer; ending the session", self.media_timeout)
            self.stopped.set()


class _FdReader:
    """A file object over the remuxer's pipe whose read() returns whatever bytes have arrived
    (waiting for the full size would hold packets back)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, size: int = -1) -> bytes:
        return os.read(self.fd, size if size > 0 else 65536)


class TsPipeSource(DemuxedSource):
    """The demuxing end of the remuxer's pipe (opened once media flows)."""

    def __init__(self, fd: int) -> None:
        self.container = av.open(_FdReader(fd), mode="r", format="mpegts", options=TS_PROBE)


def open_session(
    offer: str,
    *,
    keyframe_interval: float,
    media_timeout: float,
    ice_loopback: bool,
    udp_ports: tuple[int, int] | None = None,
    ice_servers: list[IceServer] | None = None,
) -> tuple[WhipPeer, str, int]:
    """Answer the offer: the running peer, its SDP answer and the read end of the pipe its
    media arrives on (as MPEG-TS). OfferRefused, with the HTTP status the node answers, when
    the offer cannot be answered."""
    keep_h264_encoded()
    if ice_loopback:
        allow_loopback_candidates()
    read_fd, write_fd = os.pipe()
    remuxer = TsRemuxer(write_fd, keyframe_interval=keyframe_interval)
    peer = WhipPeer(
        offer,
        remuxer,
        keyframe_interval=keyframe_interval,
        media_timeout=media_timeout,
        udp_ports=udp_ports,
        ice_servers=ice_servers,
    )
    peer.start()
    try:
        answer = peer.answer.result(timeout=ANSWER_TIMEOUT + 5)
    except BaseException:
        os.close(read_fd)
        raise
    return peer, answer, read_fd
