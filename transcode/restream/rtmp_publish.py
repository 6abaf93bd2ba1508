"""An RTMP(S) publishing client: how a restream pushes FLV tags to rtmp:// and rtmps:// targets.

Our own client rather than FFmpeg's rtmp protocol through PyAV: PyAV opens an output URL
without its options or its interrupt callback, so a target that accepts the connection and
then stops reading held the sending thread forever, and `rtmp_tcurl`, `rw_timeout` could not
be set. Here the socket is ours: every send and the connect have a timeout, `close()` from
another thread ends a blocked send, and rtmps is Python's `ssl` (certificates checked).

The sequence is a publisher's as servers expect it (FIELD-NOTES "RTMP", ffmpeg's and OBS's):
the simple handshake, `connect` (app, tcUrl), SetChunkSize 4096, `releaseStream`,
`FCPublish`, `createStream`, then `publish` and `onStatus NetStream.Publish.Start`. A
target's URL is `rtmp[s]://host[:port]/app/stream-key`: the app is the first path segment,
the key the rest (with its query), as ffmpeg, OBS, YouTube and Twitch read it.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ingest.rtmp import amf0
from ingest.rtmp.chunk import ChunkError, ChunkReader, ChunkWriter

PORTS = {"rtmp": 1935, "rtmps": 443}
RTMP_VERSION = 3
HANDSHAKE_SIZE = 1536
CHUNK_SIZE = 4096
# message types
SET_CHUNK_SIZE = 1
USER_CONTROL = 4
WINDOW_ACK_SIZE = 5
AUDIO = 8
VIDEO = 9
DATA = 18
COMMAND = 20
PING_REQUEST = 6
PING_RESPONSE = 7
# chunk stream ids (as ffmpeg uses them)
CONTROL_CSID = 2
COMMAND_CSID = 3
MEDIA_CSIDS = {AUDIO: 4, VIDEO: 6, DATA: 5}
_U32 = struct.Struct(">I")


class RtmpPublishError(OSError):
    """The target refused the publish, broke the protocol or went away. The message names no secret."""


@dataclass(frozen=True)
class RtmpTarget:
    host: str
    port: int
    tls: bool
    app: str
    key: str

    @property
    def tc_url(self) -> str:
        scheme = "rtmps" if self.tls else "rtmp"
        return f"{scheme}://{self.host}:{self.port}/{self.app}"

    @property
    def public(self) -> str:
        """The target without its stream key, for logs and messages."""
        return f"{self.tc_url}/…"


def parse_rtmp_url(uri: str) -> RtmpTarget:
    """ValueError when `uri` is not rtmp[s]://host[:port]/app/key."""
    parts = urlsplit(uri)
    if parts.scheme not in PORTS or not parts.hostname:
        raise ValueError("must be rtmp://host/app/key or rtmps://host/app/key")
    path = parts.path.lstrip("/")
    app, _, key = path.partition("/")
    if not app or not key:
        raise ValueError("must name an application and a stream key: rtmp://host/app/key")
    if parts.query:
        key = f"{key}?{parts.query}"
    return RtmpTarget(parts.hostname, parts.port or PORTS[parts.scheme], parts.scheme == "rtmps", app, key)


class RtmpPublisher:
    """One connection publishing one stream. `send` blocks up to `timeout` seconds."""

    def __init__(self, target: RtmpTarget, timeout: float = 10.0) -> None:
        self.target = target
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.reader = ChunkReader()
        self.writer = ChunkWriter()
        self.stream_id = 0
        self.transaction = 0

    # -- connecting ------------------------------------------------------------------------------
    def connect(self) -> None:
        target = self.target
        try:
            raw = socket.create_connection((target.host, target.port), timeout=self.timeout)
        except OSError as error:
            raise RtmpPublishError(f"{target.public}: cannot connect: {_reason(error)}") from None
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = raw
            if target.tls:
                self.sock = ssl.create_default_context().wrap_socket(raw, server_hostname=target.host)
            self._handshake()
            self._send(CONTROL_CSID, SET_CHUNK_SIZE, 0, _U32.pack(CHUNK_SIZE))
            self.writer.chunk_size = CHUNK_SIZE
            self._command(
                "connect",
                {
                    "app": target.app,
                    "type": "nonprivate",
                    "flashVer": "FMLE/3.0 (compatible; Headwater)",
                    "tcUrl": target.tc_url,
                },
            )
            self._await_result("connect")
            self._command("releaseStream", None, target.key)
            self._command("FCPublish", None, target.key)
            created = self._command("createStream", None)
            self.stream_id = int(self._await_result("createStream", created)[3])
            self._send(COMMAND_CSID, COMMAND, self.stream_id, amf0.encode("publish", 0.0, None, target.key, "live"))
            self._await_publish_start()
        except (OSError, ChunkError, amf0.Amf0Error, IndexError, TypeError, ValueError) as error:
            self.close()
            if isinstance(error, RtmpPublishError):
                raise
            raise RtmpPublishError(f"{target.public}: {_reason(error)}") from None

    def _handshake(self) -> None:
        c1 = struct.pack(">II", int(time.monotonic() * 1000) & 0xFFFFFFFF, 0) + os.urandom(HANDSHAKE_SIZE - 8)
        self._sendall(bytes((RTMP_VERSION,)) + c1)
        s0s1 = self._recv_exactly(1 + HANDSHAKE_SIZE)
        if s0s1[0] != RTMP_VERSION:
            raise RtmpPublishError(f"{self.target.public}: not an RTMP server (version byte {s0s1[0]})")
        self._recv_exactly(HANDSHAKE_SIZE)  # S2
        self._sendall(s0s1[1:])  # C2 echoes S1

    def _command(self, name: str, *arguments: Any) -> int:
        self.transaction += 1
        self._send(COMMAND_CSID, COMMAND, 0, amf0.encode(name, float(self.transaction), *arguments))
        return self.transaction

    def _await_result(self, what: str, transaction: int | None = None) -> list[Any]:
        while True:
            values = self._next_command()
            if values[0] == "_result" and (transaction is None or values[1] == transaction):
                return values
            if values[0] == "_error":
                raise RtmpPublishError(f"{self.target.public}: {what} refused: {self._said(values)}")

    def _await_publish_start(self) -> None:
        while True:
            values = self._next_command()
            if values[0] != "onStatus":
                continue
            code = self._said(values)
            if "Publish.Start" in code:
                return
            if "Publish." in code or ".Error" in code or "Failed" in code or "Rejected" in code:
                raise RtmpPublishError(f"{self.target.public}: publish refused: {code}")

    def _next_command(self) -> list[Any]:
        """The server's next command (AMF0), handling protocol control messages meanwhile."""
        while True:
            message = self.reader.next_message()
            if message is None:
                self._receive(block=True)
                continue
            if message.type_id == COMMAND:
                return amf0.decode(message.payload)
            self._control(message.type_id, message.payload)

    # -- publishing ------------------------------------------------------------------------------
    def send(self, type_id: int, timestamp: int, payload: bytes) -> None:
        """One media or data message (FLV tag type 8, 9 or 18)."""
        self._send(MEDIA_CSIDS[type_id], type_id, self.stream_id, payload, timestamp)

    def poll(self) -> None:
        """Read what the server sent without waiting: ping requests are answered, a chunk size
        followed, an `onStatus` error or a closed connection raised."""
        while self._receive(block=False):
            while (message := self.reader.next_message()) is not None:
                if message.type_id == COMMAND:
                    values = amf0.decode(message.payload)
                    if values and values[0] == "onStatus" and "Error" in _level(values):
                        raise RtmpPublishError(f"{self.target.public}: {self._said(values)}")
                else:
                    self._control(message.type_id, message.payload)

    def finish(self, linger: float = 2.0) -> None:
        """End the publish as publishers do (FCUnpublish, deleteStream), then let the server
        read everything before it sees the end: a receiver that writes to a connection we
        closed under it drops what it had not read yet."""
        try:
            if self.sock is not None:
                self.sock.settimeout(linger)  # a target that stalled is not waited for longer
            self._command("FCUnpublish", None, self.target.key)
            self._command("deleteStream", None, float(self.stream_id))
            if self.sock is not None:
                self.sock.shutdown(socket.SHUT_WR)
                while self.sock.recv(65536):
                    pass
        except (OSError, ValueError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection (from any thread: a send blocked in it fails at once)."""
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _said(self, values: list[Any]) -> str:
        """What the server's answer says (its code and description), without the stream key,
        which a server may quote."""
        return _description(values).replace(self.target.key, "…")

    # -- the socket ------------------------------------------------------------------------------
    def _control(self, type_id: int, payload: bytes) -> None:
        if type_id == SET_CHUNK_SIZE:
            self.reader.set_chunk_size(_U32.unpack_from(payload)[0] & 0x7FFFFFFF)
        elif type_id == USER_CONTROL and len(payload) >= 6 and struct.unpack_from(">H", payload)[0] == PING_REQUEST:
            self._send(CONTROL_CSID, USER_CONTROL, 0, struct.pack(">H", PING_RESPONSE) + payload[2:6])

    def _send(self, csid: int, type_id: int, stream_id: int, payload: bytes, timestamp: int = 0) -> None:
        self._sendall(self.writer.encode(csid, type_id, stream_id, timestamp, payload))

    def _sendall(self, data: bytes) -> None:
        sock = self.sock
        if sock is None:
            raise RtmpPublishError(f"{self.target.public}: connection closed")
        try:
            sock.sendall(data)
        except TimeoutError:
            raise RtmpPublishError(f"{self.target.public}: the target took nothing for {self.timeout:g} s") from None
        except OSError as error:
            raise RtmpPublishError(f"{self.target.public}: {_reason(error)}") from None

    def _receive(self, block: bool) -> bool:
        """Feed the chunk reader; False when nothing was waiting (without `block`)."""
        sock = self.sock
        if sock is None:
            raise RtmpPublishError(f"{self.target.public}: connection closed")
        if not block and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise RtmpPublishError(f"{self.target.public}: no answer for {self.timeout:g} s") from None
        except ssl.SSLWantReadError:
            return False
        except OSError as error:
            raise RtmpPublishError(f"{self.target.public}: {_reason(error)}") from None
        if not data:
            raise RtmpPublishError(f"{self.target.public}: the target closed the connection")
        self.reader.feed(data)
        return True

    def _recv_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            sock = self.sock
            if sock is None:
                raise RtmpPublishError(f"{self.target.public}: connection closed")
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise RtmpPublishError(f"{self.target.public}: the target closed the connection in the handshake")
            data += chunk
        return data


def _reason(error: BaseException) -> str:
    """An error's reason without the URL FFmpeg or the OS may have put in it."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _info(values: list[Any]) -> dict[str, Any]:
    """A command's information object (its last object argument)."""
    return next((v for v in reversed(values) if isinstance(v, dict)), {})


def _level(values: list[Any]) -> str:
    return str(_info(values).get("level", ""))


def _description(values: list[Any]) -> str:
    info = _info(values)
    return " ".join(str(info[k]) for k in ("code", "description") if info.get(k)) or str(values[0])
