"""Opening a restream's target: an RTMP(S) publish or an SRT caller, and the muxer that writes
into it (`flv` for RTMP, `mpegts` for SRT), as one `Connection`.

Secrets stay inside the worker: the URL came on stdin (`StartRestream`), no process is
started with it, and what is logged or reported names the target without its stream key,
passphrase or query (`public_target`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import av

from ingest.pull.srt import caller_options, socket_address, start_libsrt
from ingest.srt import libsrt
from transcode.restream.rtmp_publish import RtmpPublisher, parse_rtmp_url
from transcode.restream.sinks import FlvToRtmp, Sink, TsToSrt

SCHEMES = ("rtmp", "rtmps", "srt")


def public_target(uri: str) -> str:
    """The target as logs and the API's messages may show it: scheme, host and port (an RTMP
    app too), never the stream key, a passphrase or a query."""
    parts = urlsplit(uri)
    where = f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")
    if parts.scheme in ("rtmp", "rtmps"):
        app = parts.path.lstrip("/").partition("/")[0]
        return f"{where}/{app}/…" if app else where
    return where


@dataclass
class Connection:
    """A connected target and the muxer writing into it."""

    container: av.container.OutputContainer
    sink: Sink
    publisher: RtmpPublisher | None = None
    srt_socket: int | None = None

    def new_container(self) -> av.container.OutputContainer:
        """A new muxer on the same connection (another source's codec parameters): FLV sends
        its metadata and sequence headers again, TS its tables; the target stays connected."""
        self.container.close()
        self.sink.restart()
        self.container = _muxer(self.sink)
        return self.container

    def end_of_batch(self) -> None:
        """What a batch of packets left buffered goes out; the server's messages are read."""
        if isinstance(self.sink, TsToSrt):
            self.sink.flush_packets()
        if self.publisher is not None:
            self.publisher.poll()
        self.sink.check()

    def abort(self) -> None:
        """From any thread: a send blocked on the target fails at once."""
        if self.publisher is not None:
            self.publisher.close()
        sock, self.srt_socket = self.srt_socket, None
        if sock is not None:
            libsrt.lib.srt_close(sock)

    def close(self) -> None:
        """End the connection as a publisher does (it may wait for the target a moment)."""
        try:
            self.container.close()  # the muxer's trailer, if the connection still takes it
        except (av.error.FFmpegError, OSError):
            pass
        if self.publisher is not None and self.sink.error is None:
            self.publisher.finish()
        self.abort()


def connect(uri: str, timeout: float) -> Connection:
    """A connected target; OSError (no secret in its message) when it cannot be reached or refuses."""
    scheme = urlsplit(uri).scheme
    if scheme == "srt":
        return _connect_srt(uri, timeout)
    if scheme in ("rtmp", "rtmps"):
        publisher = RtmpPublisher(parse_rtmp_url(uri), timeout)
        publisher.connect()
        sink = FlvToRtmp(publisher)
        return Connection(_muxer(sink), sink, publisher=publisher)
    raise ValueError(f"unsupported restream target scheme {scheme!r}")


def _connect_srt(uri: str, timeout: float) -> Connection:
    host, port, options = caller_options(uri, open_timeout=timeout, read_timeout=timeout)
    options[libsrt.SRTO_SNDTIMEO] = int(timeout * 1000)
    address = socket_address(host, port)
    start_libsrt()
    sock = libsrt.check(libsrt.lib.srt_create_socket(), "srt_create_socket")
    try:
        for option, value in options.items():
            if isinstance(value, bytes):
                libsrt.set_bytes(sock, option, value)
            else:
                libsrt.set_int(sock, option, value)
        libsrt.check(libsrt.lib.srt_connect(sock, address, len(address)), "srt_connect")
    except OSError as error:
        libsrt.lib.srt_close(sock)
        raise OSError(f"{public_target(uri)}: {error}") from None
    sink = TsToSrt(sock)
    return Connection(_muxer(sink), sink, srt_socket=sock)


def _muxer(sink: Sink) -> av.container.OutputContainer:
    if isinstance(sink, FlvToRtmp):
        return av.open(sink, "w", format="flv", container_options={"flvflags": "no_duration_filesize"})
    return av.open(sink, "w", format="mpegts")
