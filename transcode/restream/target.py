"""One restream target: a thread that connects, remuxes the origin's packets into it, and
retries with backoff when it fails.

The packaging thread only copies each packet (bytes and timing, `MediaPacket`) into the
target's queue (`offer`), which never blocks: a target that falls `MAX_QUEUED_BYTES` behind
(a slow or stalled network) has its packets dropped and starts again at the next keyframe; one
that takes nothing for `TIMEOUT` seconds fails its send and reconnects. So a target never
holds up the stream, its playlists, or another target.

The thread wakes every `BATCH_INTERVAL` and muxes what came meanwhile: the packets arrive in
batches anyway (the node relays a publisher's bytes every `ingest_read_interval`), and a
wake-up costs more than the frames it carries (docs/architecture.md "Supervisor ↔ worker").

Each connection starts at a video keyframe (or at once for a stream without video), its
timestamps from zero. A source switch (main ↔ backup, a new pull source) keeps the target
connected: a new muxer on the same connection sends the new source's codec parameters (an FLV
or TS muxer cannot change them mid-stream) and the timestamps go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av

from packager.cmaf import StreamTemplate
from transcode.contract import Event, RestreamLive, RestreamStopped, StartRestream
from transcode.restream.connections import Connection, connect, public_target
from transcode.restream.silence import FRAME_SAMPLES, LAYOUT, SAMPLE_RATE, silent_frame

log = logging.getLogger("headwater.restream")

BATCH_INTERVAL = 0.25  # seconds between the thread's turns
MAX_QUEUED_BYTES = 16 * 1024 * 1024  # ~20 s of a 6 Mbit/s stream: past that, drop and resync
TIMEOUT = 10.0  # seconds a connect, or a send the target does not take, may last
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
STEADY = 30.0  # seconds connected after which a failure starts the backoff over
SILENCE_TIME_BASE = Fraction(1, SAMPLE_RATE)


@dataclass(frozen=True, slots=True)
class MediaPacket:
    """A copy of one origin packet (the packaging thread's `av.Packet` is muxed elsewhere too)."""

    data: bytes
    pts: int | None
    dts: int
    time_base: Fraction
    keyframe: bool
    video: bool

    @property
    def seconds(self) -> Fraction:
        return self.dts * self.time_base


@dataclass(frozen=True)
class SourceTemplates:
    """The current source's streams, copied on the packaging thread (the source's container may
    close under a target that reconnects)."""

    video: StreamTemplate | None
    audio: StreamTemplate | None


class RestreamTarget(threading.Thread):
    def __init__(
        self, command: StartRestream, send: Callable[[Event], None], source: SourceTemplates | None = None
    ) -> None:
        super().__init__(name=f"restream-{command.restream_id}", daemon=True)
        self.command = command
        self.send = send
        self.where = public_target(command.uri)
        self.source = source
        self.queue: deque[MediaPacket | SourceTemplates] = deque()
        # each counter written by one thread only: the packaging thread offers, this one takes
        self.offered_bytes = 0
        self.taken_bytes = 0
        self.overflowing = False  # set by the packaging thread: packets are dropped until this one empties the queue
        self.stopping = threading.Event()
        self.draining = False  # stopping after the queue is sent (the stream ended)
        self.connection: Connection | None = None
        self.live = False

    # -- the packaging thread ------------------------------------------------------------------
    def offer(self, packet: MediaPacket) -> None:
        if self.overflowing:
            return
        if self.offered_bytes - self.taken_bytes + len(packet.data) > MAX_QUEUED_BYTES:
            self.overflowing = True
            return
        self.queue.append(packet)
        self.offered_bytes += len(packet.data)

    def source_changed(self, source: SourceTemplates) -> None:
        self.queue.append(source)

    def stop(self) -> None:
        """Stop forwarding; a send blocked on the target fails at once."""
        self.stopping.set()
        connection = self.connection
        if connection is not None:
            connection.abort()

    def finish(self) -> None:
        """The stream ended: send what is queued, then disconnect (`join` bounds the wait)."""
        self.draining = True
        self.stopping.set()

    # -- the target's thread -------------------------------------------------------------------
    def run(self) -> None:
        backoff = BACKOFF_FIRST
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self._serve()
                continue
            except (OSError, av.error.FFmpegError, ValueError) as error:
                message = _reason(error)
            if self.stopping.is_set():
                break
            if time.monotonic() - started > STEADY:
                backoff = BACKOFF_FIRST
            restream = self.command.restream_id
            log.warning("restream %s to %s: %s; retrying in %g s", restream, self.where, message, backoff)
            self._went_offline(message)
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
        self._went_offline("stopped")

    def _serve(self) -> None:
        """One connection, until it fails (raises) or the restream stops (returns)."""
        source = self._await_source()
        if source is None:
            return
        connection = self.connection = connect(self.command.uri, TIMEOUT)
        try:
            if self.stopping.is_set() and not self.draining:
                return
            muxer = Muxer(connection, source, self.command)
            self.live = True
            self.send(RestreamLive(restream_id=self.command.restream_id, session=self.command.session))
            log.info("restream %s: forwarding to %s", self.command.restream_id, self.where)
            self._forward(muxer)
        finally:
            self.connection = None
            connection.close()

    def _await_source(self) -> SourceTemplates | None:
        """The source to connect for (the newest announced); None once stopped (a stream that
        ended with packets queued still has them sent)."""
        while True:
            if self.stopping.is_set() and not (self.draining and self.queue):
                return None
            self._skip_stale()
            if self.source is not None:
                return self.source
            self.stopping.wait(BATCH_INTERVAL)

    def _skip_stale(self) -> None:
        """Before a connection: what queued while disconnected (a backoff, a connect) goes,
        up to the newest keyframe, so the target starts near the live edge."""
        if self.overflowing:
            self._drop_queue()
        queue = list(self.queue)
        start = len(queue)
        for index in range(len(queue) - 1, -1, -1):
            item = queue[index]
            if isinstance(item, SourceTemplates) or (item.video and item.keyframe):
                start = index
                break
        for _ in range(start):
            item = self._take()
            if isinstance(item, SourceTemplates):
                self.source = item
        if start < len(queue) and isinstance(self.queue[0], SourceTemplates):
            self.source = self._take()  # type: ignore[assignment]

    def _forward(self, muxer: Muxer) -> None:
        while True:
            if self.stopping.wait(BATCH_INTERVAL) and not self.draining:
                return
            if self.overflowing:
                log.warning("restream %s: %s fell behind; packets dropped", self.command.restream_id, self.where)
                self._drop_queue()
                muxer.resync()
            while self.queue:
                item = self._take()
                if isinstance(item, SourceTemplates):
                    self.source = item
                    muxer.switch_source(item)
                    log.info("restream %s: the source changed; its parameters follow", self.command.restream_id)
                else:
                    muxer.mux(item)
            muxer.connection.end_of_batch()
            if self.stopping.is_set():
                return

    def _take(self) -> MediaPacket | SourceTemplates:
        item = self.queue.popleft()
        if isinstance(item, MediaPacket):
            self.taken_bytes += len(item.data)
        return item

    def _drop_queue(self) -> None:
        """Every queued packet goes (a source change in the queue is kept: it comes next)."""
        source = None
        for _ in range(len(self.queue)):
            item = self._take()
            if isinstance(item, SourceTemplates):
                source = item
        if source is not None:
            self.queue.appendleft(source)
        self.overflowing = False

    def _went_offline(self, message: str) -> None:
        if self.live:
            self.live = False
            self.send(
                RestreamStopped(restream_id=self.command.restream_id, session=self.command.session, message=message)
            )


class Muxer:
    """The origin's packets remuxed into one connection: from a keyframe, timestamps from zero,
    the audio passed, dropped (`no_audio`) or replaced by silence (`no_audio_mode=silence`)."""

    def __init__(self, connection: Connection, source: SourceTemplates, command: StartRestream) -> None:
        self.connection = connection
        self.no_audio = command.no_audio
        self.silence = command.no_audio and command.no_audio_mode == "silence"
        self.origin: Fraction | None = None  # the source time that is zero on this connection
        self.silent_samples = 0  # silence sent, in samples from the origin
        self._add_streams(connection.container, source)

    def _add_streams(self, container: av.container.OutputContainer, source: SourceTemplates) -> None:
        self.video = container.add_stream_from_template(source.video.stream) if source.video else None
        self.audio = None
        if source.audio is not None and not self.no_audio:
            self.audio = container.add_stream_from_template(source.audio.stream)
        elif self.silence:
            self.audio = container.add_stream("aac", rate=SAMPLE_RATE, layout=LAYOUT)
        self.waiting = True  # for a keyframe

    def switch_source(self, source: SourceTemplates) -> None:
        """Another source follows (its first packet is a keyframe): a new muxer with its codec
        parameters on the same connection; the timestamps go on from the same origin."""
        self._add_streams(self.connection.new_container(), source)

    def resync(self) -> None:
        """After dropped packets: wait for a keyframe again (the timeline goes on)."""
        if self.video is not None:
            self.waiting = True

    def mux(self, packet: MediaPacket) -> None:
        if self.waiting:
            if self.video is not None and not (packet.video and packet.keyframe):
                return
            self.waiting = False
            if self.origin is None:
                self.origin = packet.seconds
        assert self.origin is not None
        if packet.video:
            if self.video is not None:
                self._mux(self.video, packet)
            if self.silence:
                self._silence_until(packet.seconds)
        elif self.audio is not None and not self.silence:
            self._mux(self.audio, packet)
        elif self.silence and self.video is None:
            self._silence_until(packet.seconds)
        self.connection.sink.check()

    def _mux(self, stream: av.stream.Stream, packet: MediaPacket) -> None:
        assert self.origin is not None
        shift = round(self.origin / packet.time_base)
        dts = packet.dts - shift
        if dts < 0:
            return  # before the connection's first keyframe (audio arriving late)
        out = av.Packet(packet.data)
        out.dts = dts
        out.pts = packet.pts - shift if packet.pts is not None else dts
        out.time_base = packet.time_base
        out.is_keyframe = packet.keyframe
        out.stream = stream
        self.connection.container.mux(out)

    def _silence_until(self, seconds: Fraction) -> None:
        assert self.audio is not None and self.origin is not None
        until = (seconds - self.origin) * SAMPLE_RATE
        frame = silent_frame()
        while self.silent_samples <= until:
            out = av.Packet(frame)
            out.pts = out.dts = self.silent_samples
            out.time_base = SILENCE_TIME_BASE
            out.stream = self.audio
            self.connection.container.mux(out)
            self.silent_samples += FRAME_SAMPLES


def _reason(error: BaseException) -> str:
    """Why a connection failed, without the URL (FFmpeg names its output in its errors)."""
    if isinstance(error, av.error.FFmpegError):
        return error.strerror or type(error).__name__
    return str(error) or type(error).__name__
