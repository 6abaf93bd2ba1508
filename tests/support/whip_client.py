"""A real WHIP publisher for tests: aiortc sending generated H.264 video and Opus audio.

Frames are made here (a moving gradient, a 440 Hz tone); aiortc encodes them with its own
H.264 and Opus encoders and sends them over ICE/DTLS/SRTP like a browser would.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import aioice.ice
import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

VIDEO_RATE = 25
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms


def allow_loopback_candidates() -> None:
    """aioice skips 127.0.0.1; the test's peers talk over loopback."""
    original = aioice.ice.get_host_addresses
    if getattr(original, "with_loopback", False):
        return

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return original(use_ipv4, use_ipv6) + (["127.0.0.1"] if use_ipv4 else [])

    with_loopback.with_loopback = True
    aioice.ice.get_host_addresses = with_loopback


class PatternTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, width: int = 160, height: int = 120, *, shrink_after: int | None = None) -> None:
        """`shrink_after`: frames after which the size drops to 4/5 (as a browser short of
        bandwidth does); aiortc's encoder then starts over with a new SPS and an IDR."""
        super().__init__()
        self.width, self.height = width, height
        self.shrink_after = shrink_after
        self.count = 0
        self.start: float | None = None

    async def recv(self) -> av.VideoFrame:
        self.start = self.start or time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.count / VIDEO_RATE - time.monotonic()))
        if self.shrink_after is not None and self.count == self.shrink_after:
            self.width, self.height = self.width * 4 // 5, self.height * 4 // 5
        image = np.full((self.height, self.width, 3), (self.count * 4) % 256, dtype=np.uint8)
        image[:, : (self.count * 2) % self.width] = 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = self.count * 3600, fractions.Fraction(1, 90000)
        self.count += 1
        return frame


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.samples = 0
        self.start: float | None = None

    async def recv(self) -> av.AudioFrame:
        self.start = self.start or time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.samples / AUDIO_RATE - time.monotonic()))
        t = (np.arange(AUDIO_SAMPLES) + self.samples) / AUDIO_RATE
        tone = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts = AUDIO_RATE, self.samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.samples += AUDIO_SAMPLES
        return frame


async def make_offer(
    pc: RTCPeerConnection, *, video: str | None = "video/H264", audio: bool = True, shrink_after: int | None = None
) -> str:
    """Add sendonly tracks (video restricted to the `video` codec) and return the offer SDP."""
    if video is not None:
        transceiver = pc.addTransceiver(PatternTrack(shrink_after=shrink_after), direction="sendonly")
        transceiver.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == video]
        )
    if audio:
        pc.addTransceiver(ToneTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp


def offer_sdp(*, loopback: bool = False, **kwargs) -> str:
    """An offer SDP from a throwaway peer connection (see `make_offer` for `kwargs`);
    `loopback` lists 127.0.0.1 among its candidates (same-host tests)."""

    async def build() -> str:
        if loopback:
            allow_loopback_candidates()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            return await make_offer(pc, **kwargs)
        finally:
            await pc.close()

    return asyncio.run(build())


class WhipPublisher:
    """Publishes to a WHIP URL; `location` is the session resource to DELETE."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.location: str | None = None
        self.response: httpx.Response | None = None

    async def publish(self, **offer_kwargs) -> httpx.Response:
        allow_loopback_candidates()
        offer = await make_offer(self.pc, **offer_kwargs)
        async with httpx.AsyncClient(timeout=30) as http:
            self.response = await http.post(
                self.url,
                content=offer,
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
            )
        if self.response.status_code == 201:
            self.location = str(httpx.URL(self.url).join(self.response.headers["Location"]))
            await self.pc.setRemoteDescription(RTCSessionDescription(self.response.text, "answer"))
        return self.response

    async def stop(self, delete: bool = True) -> httpx.Response | None:
        response = None
        if delete and self.location:
            async with httpx.AsyncClient(timeout=30) as http:
                response = await http.delete(self.location, headers={"Authorization": f"Bearer {self.token}"})
        await self.pc.close()
        return response
