"""Pulling srt:// sources with libsrt's caller (ingest/srt/libsrt.py), since PyAV's bundled
FFmpeg has no libsrt.

The worker itself connects, and PyAV demuxes the MPEG-TS it receives through a file object:
no other process is started, so the URL (its passphrase, its stream id) is on no command line
(Debian's `ffmpeg -i srt://…`, the caller before, showed them to `ps`). The URL's query takes
ffmpeg's option names and units, so an operator's srt:// URL means the same as with ffmpeg:
`passphrase`, `pbkeylen`, `streamid`, `latency`/`rcvlatency`/`peerlatency` (µs),
`connect_timeout` (ms), `timeout` (µs, each read). Without them the pull's own open and read
timeouts bound the connect and each read; a caller that connects and then receives nothing
ends (as end of stream) instead of hanging. Only the caller mode is supported.
"""

from __future__ import annotations

import ctypes
import functools
import socket
import struct
from urllib.parse import parse_qsl, urlsplit

import av

from ingest.pull.source import DEMUX_OPTIONS, OpenedSource
from ingest.srt import libsrt

MESSAGE_BYTES = 1500  # one live-mode SRT message (7 TS packets: 1316 bytes)
MICROSECONDS_OPTIONS = {
    "latency": libsrt.SRTO_LATENCY,
    "rcvlatency": libsrt.SRTO_RCVLATENCY,
    "peerlatency": libsrt.SRTO_PEERLATENCY,
}  # ffmpeg's µs, libsrt's ms


def caller_options(url: str, open_timeout: float, read_timeout: float) -> tuple[str, int, dict[int, int | bytes]]:
    """(host, port, libsrt socket options) of an srt:// URL; ValueError when it cannot be called."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ValueError("an srt:// pull URL needs a host and a port")
    query = dict(parse_qsl(parts.query))
    if query.get("mode", "caller") != "caller":
        raise ValueError("an srt:// pull connects as a caller (mode=caller)")
    options: dict[int, int | bytes] = {
        libsrt.SRTO_CONNTIMEO: int(query.get("connect_timeout", open_timeout * 1000)),
        libsrt.SRTO_RCVTIMEO: max(1, int(int(query.get("timeout", read_timeout * 1e6)) / 1000)),
    }
    for name, option in MICROSECONDS_OPTIONS.items():
        if name in query:
            options[option] = int(query[name]) // 1000
    if "passphrase" in query:
        options[libsrt.SRTO_PASSPHRASE] = query["passphrase"].encode()
    if "pbkeylen" in query:
        options[libsrt.SRTO_PBKEYLEN] = int(query["pbkeylen"])
    if "streamid" in query:
        options[libsrt.SRTO_STREAMID] = query["streamid"].encode()
    return parts.hostname, parts.port, options


def socket_address(host: str, port: int) -> bytes:
    """A `struct sockaddr_in`/`sockaddr_in6` for libsrt's connect."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    if family == socket.AF_INET:
        return struct.pack("=H", family) + struct.pack(">H", port) + socket.inet_aton(address[0]) + bytes(8)
    return (
        struct.pack("=H", family)
        + struct.pack(">HI", port, address[2])
        + socket.inet_pton(socket.AF_INET6, address[0])
        + struct.pack("=I", address[3])
    )


@functools.cache
def start_libsrt() -> None:
    """Once per worker: libsrt's threads, and its log (errors only) into the worker's."""
    libsrt.lib.srt_startup()
    libsrt.route_logs()


class SrtCaller:
    """A connected libsrt caller socket, read as a file by PyAV: one message per read, end of
    stream when the peer leaves or sends nothing for the read timeout."""

    def __init__(self, url: str, open_timeout: float, read_timeout: float) -> None:
        host, port, options = caller_options(url, open_timeout, read_timeout)
        address = socket_address(host, port)
        start_libsrt()
        self.sock = libsrt.check(libsrt.lib.srt_create_socket(), "srt_create_socket")
        self.buffer = ctypes.create_string_buffer(MESSAGE_BYTES)
        try:
            for option, value in options.items():
                if isinstance(value, bytes):
                    libsrt.set_bytes(self.sock, option, value)
                else:
                    libsrt.set_int(self.sock, option, value)
            libsrt.check(libsrt.lib.srt_connect(self.sock, address, len(address)), "srt_connect")
        except OSError:
            self.close()
            raise

    def read(self, size: int = -1) -> bytes:
        if self.sock is None:
            return b""
        received = libsrt.lib.srt_recvmsg(self.sock, self.buffer, MESSAGE_BYTES)
        if received <= 0:  # a read timeout, the peer gone, or the socket closed
            return b""
        return self.buffer.raw[:received]

    def close(self) -> None:
        if self.sock is not None:
            libsrt.lib.srt_close(self.sock)
            self.sock = None


class SrtSource(OpenedSource):
    """An OpenedSource whose bytes come from a libsrt caller."""

    caller: SrtCaller | None = None

    def close(self) -> None:
        super().close()
        if self.caller is not None:
            self.caller.close()


def open_srt(url: str, open_timeout: float, read_timeout: float) -> SrtSource:
    try:
        caller = SrtCaller(url, open_timeout, read_timeout)
    except libsrt.SrtError as error:
        raise ValueError(str(error)) from None  # libsrt's words: no URL in them
    try:
        container = av.open(caller, "r", format="mpegts", options=DEMUX_OPTIONS, metadata_errors="replace")
    except av.error.FFmpegError:
        caller.close()
        raise ValueError("no MPEG-TS from the SRT source") from None
    source = SrtSource(url, container)
    source.caller = caller
    if source.video is None and source.audio is None:
        source.close()
        raise ValueError("no video or audio stream in the source")
    return source
