"""One RTMP connection, from handshake to the end of its publish.

A session is an asyncio.Protocol: every received block is parsed at once and each
complete media message goes to the sink inside the same ``data_received`` call, so the
protocol layer adds no latency. While a publish waits for authorization, reading pauses
and unparsed bytes stay in the chunk reader (backpressure without an extra queue).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest import flv
from ingest.media import AUDIO, DATA, VIDEO, MediaMessage
from ingest.publish import Authorize, PublishRejected, PublishRequest, PublishSink
from ingest.rtmp import amf0
from ingest.rtmp.chunk import MAX_MESSAGE_LENGTH, ChunkError, ChunkReader, ChunkWriter, RtmpMessage
from ingest.rtmp.handshake import HandshakeError, ServerHandshake
from ingest.rtmp.rests import RestTicker
from ingest.rtmp.timestamp import TimestampUnwrapper

log = logging.getLogger("headwater.ingest.rtmp")

# Message type ids
SET_CHUNK_SIZE = 1
ABORT = 2
ACKNOWLEDGEMENT = 3
USER_CONTROL = 4
WINDOW_ACK_SIZE = 5
SET_PEER_BANDWIDTH = 6
AMF3_DATA = 15
AMF3_COMMAND = 17
AMF0_DATA = 18
AMF0_COMMAND = 20

# User control events
STREAM_BEGIN = 0
PING_REQUEST = 6
PING_RESPONSE = 7

CONTROL_CSID = 2
COMMAND_CSID = 3
STATUS_CSID = 5
PUBLISH_STREAM_ID = 1

OUT_CHUNK_SIZE = 4096
WINDOW_SIZE = 2_500_000
PEER_BANDWIDTH_DYNAMIC = 2

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_SET_DATA_FRAME = amf0.encode("@setDataFrame")


@dataclass(frozen=True)
class SessionLimits:
    """What one connection may cost before it is dropped."""

    handshake_timeout: float = 10.0  # seconds from accept to a complete handshake
    idle_timeout: float = 60.0  # seconds without a byte once the handshake is done
    max_message_length: int = MAX_MESSAGE_LENGTH
    # Once publishing, the socket rests this long after each read, so one wake-up takes a
    # batch of frames (see `RtmpSession._rest`). 0 reads as data comes.
    read_interval: float = 0.0
    publish_timeout: float = 15.0  # seconds from accept to a publish command; a client that never publishes goes


# A read this large may have filled the transport's buffer (uvloop reads up to 256,000 bytes,
# asyncio 262,144), so more may be waiting in the kernel: read on without resting. Anything
# smaller drained the socket. (A 64 KB mark made every rest-tick batch of a 6 Mbit/s stream,
# 150-190 KB, count as full: the node then woke again for the next frame, a few ms later, and
# wrote to the worker twice per tick.)
FULL_READ = 256_000


class RtmpSession(asyncio.Protocol):
    def __init__(
        self,
        authorize: Authorize,
        protocol_name: str,
        limits: SessionLimits,
        on_closed: Callable[[RtmpSession], None],
        rests: RestTicker | None = None,
    ) -> None:
        self._authorize = authorize
        self._protocol_name = protocol_name
        self._limits = limits
        self._on_closed = on_closed
        self._rests = rests  # the server's shared clock for resting sockets
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._peer = "?"
        self._handshake: ServerHandshake | None = ServerHandshake()
        self._timer: asyncio.TimerHandle | None = None
        self._last_data = 0.0
        self._accepted = 0.0
        self._reader = ChunkReader(max_message_length=limits.max_message_length)
        self._writer = ChunkWriter()
        self._unwrapper = TimestampUnwrapper()
        self._bytes_received = 0
        self._last_ack = 0
        self._ack_window = WINDOW_SIZE
        self._app = ""
        self._next_stream_id = PUBLISH_STREAM_ID
        self._request: PublishRequest | None = None
        self._auth_task: asyncio.Task | None = None
        self._authorizing = False
        self._sink: PublishSink | None = None
        self._seen_audio = False
        self._seen_video = False
        self._finished = False
        self._resting = False  # reading paused for `read_interval`

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._peer = _format_peer(transport.get_extra_info("peername"))
        self._loop = asyncio.get_running_loop()
        self._last_data = self._accepted = self._loop.time()
        self._timer = self._loop.call_later(self._limits.handshake_timeout, self._on_timer)

    def data_received(self, data: bytes) -> None:
        if self._finished:
            return
        read_size = len(data)
        self._bytes_received += read_size
        self._last_data = self._loop.time()
        try:
            if self._handshake is not None:
                data = self._continue_handshake(data)
                if self._handshake is not None:
                    return
            self._reader.feed(data)
            self._process()
            self._acknowledge_if_due()
            if self._sink is not None and read_size < FULL_READ and self._limits.read_interval:
                self._rest()
        except (HandshakeError, ChunkError, amf0.Amf0Error, _ProtocolViolation) as exc:
            log.warning("rtmp %s: protocol error, closing: %s", self._peer, exc)
            self.close(f"protocol error: {exc}")
        except Exception as exc:  # a bug here must end this connection, not the server
            log.exception("rtmp %s: unexpected error, closing", self._peer)
            self.close(f"internal error: {exc!r}")

    def _rest(self) -> None:
        """Stop reading until the next tick of the server's `RestTicker` (every
        `read_interval`, one for all publishers; without one, `read_interval` from now).
        Each wake-up costs the node and then the worker far more than the few frames it
        carries (a VM's context switch is tens of µs, and Python's caches go cold between
        frames), so taking ~3 frames per wake-up instead of one roughly halves both
        processes' CPU; the frames wait at most `read_interval` in the kernel's socket buffer."""
        if self._resting:
            return  # (a TLS transport may hand over data it had already decrypted)
        self._resting = True
        self._transport.pause_reading()
        if self._rests is not None:
            self._rests.rest(self._wake)
        else:
            self._loop.call_later(self._limits.read_interval, self._wake)

    def _wake(self) -> None:
        self._resting = False
        if not self._finished and not self._transport.is_closing():
            self._transport.resume_reading()

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost reports it

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(f"connection lost: {exc}" if exc else "publisher disconnected")

    # ------------------------------------------------------------ lifecycle

    def close(self, reason: str) -> None:
        """End the session: the sink is closed with ``reason`` and the socket is closed."""
        self._finish(reason)
        if self._transport is not None:
            self._transport.close()

    def _finish(self, reason: str) -> None:
        if self._finished:
            return
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
        self._end_publish(reason)
        self._on_closed(self)

    def cancel_authorization(self) -> None:
        if self._auth_task is not None and not self._auth_task.done():
            self._auth_task.cancel()

    def _end_publish(self, reason: str) -> None:
        sink, self._sink = self._sink, None
        if sink is None:
            return
        request = self._request
        log.info("rtmp %s: publish ended app=%s name=%s: %s", self._peer, request.app, request.name, reason)
        try:
            sink.close(reason)
        except Exception:
            log.exception("rtmp %s: sink.close failed", self._peer)

    def _on_timer(self) -> None:
        """Handshake deadline first, then an idle watchdog that re-arms itself lazily
        (cheaper than moving a timer on every received block)."""
        if self._finished:
            return
        if self._handshake is not None:
            log.warning("rtmp %s: handshake timed out, closing", self._peer)
            self.close("handshake timeout")
            return
        now = self._loop.time()
        waiting = self._sink is None and not self._authorizing  # connected, has not published
        if waiting and now - self._accepted >= self._limits.publish_timeout:
            log.info("rtmp %s: no publish within %.0f s, closing", self._peer, self._limits.publish_timeout)
            self.close("no publish")
            return
        idle = 0.0 if self._authorizing else now - self._last_data  # reading is paused then
        if idle >= self._limits.idle_timeout:
            log.warning("rtmp %s: no data for %.1f s, closing", self._peer, idle)
            self.close("idle timeout")
            return
        delay = self._limits.idle_timeout - idle
        if waiting:
            delay = min(delay, self._accepted + self._limits.publish_timeout - now)
        self._timer = self._loop.call_later(max(delay, 0.05), self._on_timer)

    # ------------------------------------------------------------ reading

    def _continue_handshake(self, data: bytes) -> bytes:
        handshake = self._handshake
        reply = handshake.feed(data)
        if reply:
            self._transport.write(reply)
        if not handshake.done:
            return b""
        self._handshake = None
        self._timer.cancel()
        publish_by = self._accepted + self._limits.publish_timeout - self._loop.time()
        self._timer = self._loop.call_later(max(min(self._limits.idle_timeout, publish_by), 0.05), self._on_timer)
        return handshake.leftover

    def _acknowledge_if_due(self) -> None:
        if self._bytes_received - self._last_ack >= self._ack_window:
            self._last_ack = self._bytes_received
            self._send(CONTROL_CSID, ACKNOWLEDGEMENT, 0, _U32.pack(self._bytes_received & 0xFFFFFFFF))

    def _process(self) -> None:
        reader = self._reader
        while not self._authorizing and not self._finished:
            message = reader.next_message()
            if message is None:
                return
            self._dispatch(message)

    def _dispatch(self, message: RtmpMessage) -> None:
        type_id = message.type_id
        if type_id in (VIDEO, AUDIO):
            self._on_media(type_id, message)
        elif type_id == AMF0_DATA:
            self._on_data(message.timestamp, message.payload)
        elif type_id == AMF0_COMMAND:
            self._on_command(message.stream_id, amf0.decode(message.payload))
        elif type_id == AMF3_COMMAND:
            self._on_command(message.stream_id, amf0.decode(message.payload[1:]))
        elif type_id == AMF3_DATA:
            self._on_data(message.timestamp, message.payload[1:])
        elif type_id == SET_CHUNK_SIZE:
            self._reader.set_chunk_size(_read_u32(message.payload))
        elif type_id == ABORT:
            self._reader.abort(_read_u32(message.payload))
        elif type_id == WINDOW_ACK_SIZE:
            self._ack_window = max(1, _read_u32(message.payload))
        elif type_id == USER_CONTROL:
            self._on_user_control(message.payload)
        # Acknowledgement, SetPeerBandwidth and anything unknown need no action.

    def _on_user_control(self, payload: bytes) -> None:
        if len(payload) < 2:
            raise _ProtocolViolation("user control message too short")
        (event,) = _U16.unpack_from(payload)
        if event == PING_REQUEST:
            self._send(CONTROL_CSID, USER_CONTROL, 0, _U16.pack(PING_RESPONSE) + payload[2:6])

    # ------------------------------------------------------------ media

    def _on_media(self, kind: int, message: RtmpMessage) -> None:
        sink = self._sink
        if sink is None:
            return  # media outside a publish: nothing to hand it to
        media = MediaMessage(kind, self._unwrapper.unwrap(message.timestamp), message.payload)
        if media.payload and not (self._seen_video if kind == VIDEO else self._seen_audio):
            reason = flv.unsupported_codec(media)
            if reason is not None:
                log.warning("rtmp %s: %s, closing", self._peer, reason)
                self.close(reason)
                return
            if kind == VIDEO:
                self._seen_video = True
            else:
                self._seen_audio = True
        sink.write(media)

    def _on_data(self, timestamp: int, payload: bytes) -> None:
        if self._sink is None:
            return
        if payload.startswith(_SET_DATA_FRAME):
            payload = payload[len(_SET_DATA_FRAME) :]
        self._sink.write(MediaMessage(DATA, self._unwrapper.unwrap(timestamp), payload))

    # ------------------------------------------------------------ commands

    def _on_command(self, stream_id: int, values: list[Any]) -> None:
        if len(values) < 2 or not isinstance(values[0], str):
            raise _ProtocolViolation("command without a name and transaction id")
        name, transaction = values[0], values[1]
        args = values[2:]
        if name == "connect":
            self._on_connect(transaction, args)
        elif name in ("releaseStream", "FCPublish"):
            self._send_result(transaction, None, amf0.UNDEFINED)
        elif name == "createStream":
            self._send_result(transaction, None, float(self._next_stream_id))
            self._next_stream_id += 1
        elif name == "publish":
            self._on_publish(stream_id, args)
        elif name in ("FCUnpublish", "closeStream"):
            self._end_publish("unpublished")
        elif name == "deleteStream":
            self._end_publish("unpublished")
            self.close("unpublished")
        elif name == "getStreamLength":
            self._send_error(transaction, "NetConnection.Call.Failed", "playback is not supported")
        elif name in ("play", "play2"):
            self._send_status(stream_id, "error", "NetStream.Play.Failed", "playback is not supported")
            log.info("rtmp %s: play refused", self._peer)
            self.close("play refused")
        elif isinstance(transaction, float) and transaction > 0:
            self._send_error(transaction, "NetConnection.Call.Failed", f"unknown command {name}")

    def _on_connect(self, transaction: Any, args: list[Any]) -> None:
        properties = args[0] if args and isinstance(args[0], dict) else {}
        app = properties.get("app", "")
        self._app = app.partition("?")[0].strip("/") if isinstance(app, str) else ""
        self._send(CONTROL_CSID, WINDOW_ACK_SIZE, 0, _U32.pack(WINDOW_SIZE))
        self._send(CONTROL_CSID, SET_PEER_BANDWIDTH, 0, _U32.pack(WINDOW_SIZE) + bytes((PEER_BANDWIDTH_DYNAMIC,)))
        self._send(CONTROL_CSID, SET_CHUNK_SIZE, 0, _U32.pack(OUT_CHUNK_SIZE))
        self._writer.chunk_size = OUT_CHUNK_SIZE
        self._send_result(
            transaction,
            {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
            {
                "level": "status",
                "code": "NetConnection.Connect.Success",
                "description": "Connection succeeded.",
                "objectEncoding": 0.0,
            },
        )

    def _on_publish(self, stream_id: int, args: list[Any]) -> None:
        if len(args) < 2 or not isinstance(args[1], str):
            raise _ProtocolViolation("publish without a stream name")
        if self._request is not None:
            raise _ProtocolViolation("second publish on one connection")
        name, _, query = args[1].partition("?")
        self._request = PublishRequest(
            protocol=self._protocol_name, app=self._app, name=name, query=query, peer=self._peer
        )
        self._authorizing = True
        self._transport.pause_reading()
        self._auth_task = self._loop.create_task(self._run_authorization(stream_id or PUBLISH_STREAM_ID))

    async def _run_authorization(self, stream_id: int) -> None:
        request = self._request
        try:
            sink = await self._authorize(request)
        except PublishRejected as exc:
            code = "NetStream.Publish.BadName" if exc.unknown_stream else "NetStream.Publish.Denied"
            if not exc.throttled:  # the node logs those once per burst
                log.warning(
                    "rtmp %s: publish refused app=%s name=%s: %s", self._peer, request.app, request.name, exc.reason
                )
            self._send_status(stream_id, "error", code, exc.reason)
            self.close(f"refused: {exc.reason}")
            return
        except Exception:
            log.exception("rtmp %s: authorization failed app=%s name=%s", self._peer, request.app, request.name)
            self._send_status(stream_id, "error", "NetStream.Publish.Denied", "internal error")
            self.close("authorization failed")
            return
        if self._finished:
            sink.close("publisher went away during authorization")
            return
        self._sink = sink
        log.info("rtmp %s: publish started app=%s name=%s", self._peer, request.app, request.name)
        self._send(CONTROL_CSID, USER_CONTROL, 0, _U16.pack(STREAM_BEGIN) + _U32.pack(stream_id))
        self._send_status(stream_id, "status", "NetStream.Publish.Start", f"{request.name} is now published")
        self._authorizing = False
        self._last_data = self._loop.time()
        self._transport.resume_reading()
        self.data_received(b"")  # parse what arrived while authorization was pending

    # ------------------------------------------------------------ writing

    def _send(self, csid: int, type_id: int, stream_id: int, payload: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(self._writer.encode(csid, type_id, stream_id, 0, payload))

    def _send_result(self, transaction: Any, *values: Any) -> None:
        self._send(COMMAND_CSID, AMF0_COMMAND, 0, amf0.encode("_result", transaction, *values))

    def _send_error(self, transaction: Any, code: str, description: str) -> None:
        info = {"level": "error", "code": code, "description": description}
        self._send(COMMAND_CSID, AMF0_COMMAND, 0, amf0.encode("_error", transaction, None, info))

    def _send_status(self, stream_id: int, level: str, code: str, description: str) -> None:
        info = {"level": level, "code": code, "description": description}
        self._send(STATUS_CSID, AMF0_COMMAND, stream_id, amf0.encode("onStatus", 0.0, None, info))


class _ProtocolViolation(Exception):
    """A well-formed message the session cannot accept."""


def _read_u32(payload: bytes) -> int:
    if len(payload) < 4:
        raise _ProtocolViolation("control message too short")
    return _U32.unpack_from(payload)[0]


def _format_peer(peername: Any) -> str:
    if not peername:
        return "?"
    host, port = peername[0], peername[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
