"""A lean LL-HLS client for benchmarks: raw HTTP/1.1 keep-alive on asyncio streams.

httpx costs more CPU per request than the server being measured; hundreds of these fit in
one process. Each follows one media playlist with blocking reloads and fetches every new
part, recording when each part's bytes arrived.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import time

PART = re.compile(r'#EXT-X-PART:DURATION=([0-9.]+),URI="([^"]+)"')
MEDIA_SEQUENCE = re.compile(r"#EXT-X-MEDIA-SEQUENCE:(\d+)")
EXTINF = re.compile(r"#EXTINF:([0-9.]+)")
PRELOAD_HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"')
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # <asm-generic/socket.h>
TIMESPEC = struct.Struct("qq")


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def get(self, path: str, keep_body: bool = True) -> tuple[int, bytes]:
        """One request; with keep_body=False the body is read and dropped chunk by chunk."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if keep_body:
            return status, await self.reader.readexactly(length) if length else b""
        while length > 0:
            length -= len(await self.reader.read(min(length, 1 << 20)))
        return status, b""

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def last_part(text: str) -> tuple[int, int, list[tuple[str, float]]]:
    """(msn, part index) of the newest part, and every part listed (uri, duration)."""
    sequence = int(MEDIA_SEQUENCE.search(text).group(1))
    msn, index, parts = sequence, -1, []
    for line in text.splitlines():
        if line.startswith("#EXT-X-PART:"):
            match = PART.match(line)
            parts.append((match.group(2), float(match.group(1))))
            index += 1
        elif line and not line.startswith("#"):
            msn, index = msn + 1, -1
    return msn, index, parts


class _Follower(asyncio.BufferedProtocol):
    """One LL-HLS client on one keep-alive connection: blocking reload, then each new part.

    With `hints`, it behaves as Apple's players do: the request for the part the playlist's
    preload hint names goes out with the blocking reload (pipelined behind it), so both are
    answered when that part is ready, instead of the part being asked for only once the
    reload's answer has been read (hls.js's way, the default).

    Hundreds of these share one client process on the machine being measured, so each costs
    as little as a client can. With asyncio streams, a follower's stamp waited behind the
    tasks of those ahead of it and each part was copied five times on its way in: at 250
    followers that was ~100 ms of the client's own queue, not the server's. Here the kernel
    reads straight into a reused buffer, part bodies are counted and dropped, and a reload's
    playlist is read only after the last part already seen.

    A response is stamped twice: `arrivals` get the time the kernel received its last byte
    (SO_TIMESTAMPNS, see `_SocketTransport`), which is when a client on another machine would
    have it; `handled` (optional) gets the time this process got round to it. The difference
    is the client processes' own queue on a machine they share with the server.
    """

    def __init__(
        self,
        playlist: str,
        until: float,
        arrivals: dict,
        durations: dict | None,
        listed: dict | None,
        done: asyncio.Future,
        hints: bool = False,
        handled: dict | None = None,
    ) -> None:
        self.playlist, self.base = playlist, playlist.rsplit("/", 1)[0]
        self.hints = hints
        self.until, self.done = until, done
        self.arrivals, self.durations, self.listed, self.handled = arrivals, durations, listed, handled
        self.received_at: float | None = None  # kernel time of the latest bytes read
        self.transport: _SocketTransport | None = None
        self.buffer = bytearray(1 << 18)
        self.view = memoryview(self.buffer)
        self.filled = 0
        self.remaining: int | None = None  # body bytes still to come, once a head is in
        self.status = 0
        self.seen: set[str] | None = None  # parts listed so far; None before the first playlist
        self.last: tuple[str, int, int] | None = None  # newest part seen: uri, msn, index
        self.reload: tuple[int, int] | None = None  # msn and part the next reload asks for
        self.queue: list[str] = []  # new parts to fetch, in order
        self.hinted: str | None = None  # the part the newest playlist's preload hint names
        self.expected: list[str | None] = []  # what the responses in flight are: a part uri, or None for a playlist

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._get(self.playlist)

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view[self.filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self.filled += nbytes
        while self._take():
            pass

    def _take(self) -> bool:
        """Consume what the buffer holds of the current response; True if more may follow."""
        if self.remaining is None:
            end = self.buffer.find(b"\r\n\r\n", 0, self.filled)
            if end < 0:
                return False
            head = bytes(self.buffer[:end]).lower()
            self.status = int(head[9:12])
            at = head.find(b"content-length:")
            self.remaining = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            self._shift(end + 4)
        if self.expected[0] is None:  # a playlist: wait for all of it
            if self.filled < self.remaining:
                return False
            body = bytes(self.buffer[: self.remaining])
            self._shift(self.remaining)
        else:  # a part: count its bytes and drop them
            taken = min(self.filled, self.remaining)
            self.remaining -= taken
            self._shift(taken)
            if self.remaining:
                return False
            body = b""
        self.remaining = None
        self._on_response(self.status, body, self.received_at or time.time())
        return self.filled > 0

    def _shift(self, used: int) -> None:
        rest = self.filled - used
        if rest:
            self.buffer[:rest] = self.buffer[used : self.filled]
        self.filled = rest

    def _get(self, path: str, part: str | None = None) -> None:
        self.expected.append(part)
        self.transport.write(f"GET {path} HTTP/1.1\r\nHost: node\r\n\r\n".encode())

    def _on_response(self, status: int, body: bytes, now: float) -> None:
        uri = self.expected.pop(0)
        if uri is not None:
            if status == 200:
                self.arrivals[uri] = now
                if self.handled is not None:
                    self.handled[uri] = time.time()
            self.seen.add(uri)
        elif status == 200:
            self._on_playlist(body.decode(), now)
        elif not self.expected:  # not live yet, or a reload that timed out: ask again shortly
            asyncio.get_running_loop().call_later(0.05, self._next)
            return
        if not self.expected:
            self._next()

    def _on_playlist(self, text: str, now: float) -> None:
        fresh = self._new_parts(text)
        for uri, duration in fresh:
            self.seen.add(uri)
            if uri != self.hinted:  # a hinted part is on its way already
                self.queue.append(uri)
            if self.listed is not None:
                self.listed[uri] = now
            if self.durations is not None:
                self.durations[uri] = duration
        hint = PRELOAD_HINT.search(text) if self.hints else None
        self.hinted = hint.group(1) if hint else None

    def _new_parts(self, text: str) -> list[tuple[str, float]]:
        """Parts listed after the newest one seen; the whole playlist only when that one is
        not in it (the first playlist, or a client that fell out of the window). Sets the
        next reload's msn and part as `last_part` would."""
        at = text.find(f'URI="{self.last[0]}"') if self.last is not None else -1
        if at >= 0:
            _, msn, index = self.last
            text = text[text.find("\n", at) + 1 :]
        else:
            msn, index = int(MEDIA_SEQUENCE.search(text).group(1)), -1
        listed = []
        for line in text.splitlines():
            if line.startswith("#EXT-X-PART:"):
                match = PART.match(line)
                index += 1
                listed.append((match.group(2), float(match.group(1))))
                self.last = (match.group(2), msn, index)
            elif line and not line.startswith("#"):
                msn, index = msn + 1, -1
        self.reload = (msn, index + 1)
        if self.seen is None:  # the first playlist: start at the live edge
            self.seen = {uri for uri, _ in listed}
            return []
        return [(uri, duration) for uri, duration in listed if uri not in self.seen]

    def _next(self) -> None:
        if self.transport.is_closing():
            return
        if time.monotonic() >= self.until:
            self.transport.close()
        elif self.queue:
            uri = self.queue.pop(0)
            self._get(f"{self.base}/{uri}", part=uri)
        elif self.reload is None:
            self._get(self.playlist)
        else:
            self._get(f"{self.playlist}?_HLS_msn={self.reload[0]}&_HLS_part={self.reload[1]}")
            if self.hinted is not None and self.hinted not in self.seen:
                self._get(f"{self.base}/{self.hinted}", part=self.hinted)


class _SocketTransport:
    """Just enough of an asyncio transport for `_Follower`, over a socket read with
    `recvmsg_into`: asyncio's own transports drop the receive timestamps the kernel attaches."""

    def __init__(self, sock: socket.socket, protocol: _Follower) -> None:
        self.sock, self.protocol = sock, protocol
        self.loop = asyncio.get_running_loop()
        self.closing = False
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.ancillary = socket.CMSG_SPACE(TIMESPEC.size)
        self.loop.add_reader(sock.fileno(), self._readable)
        protocol.connection_made(self)

    def write(self, data: bytes) -> None:
        self.sock.send(data)  # a request line: the socket's send buffer always has room

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.protocol.connection_lost(None)

    def _readable(self) -> None:
        try:
            size, ancillary, _, _ = self.sock.recvmsg_into([self.protocol.get_buffer(-1)], self.ancillary)
        except BlockingIOError:
            return
        except OSError:
            size, ancillary = 0, []
        if size == 0:
            self.close()
            return
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = TIMESPEC.unpack_from(data)
                self.protocol.received_at = seconds + nanoseconds / 1e9
        self.protocol.buffer_updated(size)


async def follow(
    host: str,
    port: int,
    playlist: str,
    until: float,
    arrivals: dict[str, float],
    durations: dict[str, float] | None = None,
    listed: dict[str, float] | None = None,
    hints: bool = False,
    handled: dict[str, float] | None = None,
) -> None:
    """Blocking-reload loop until `until` (monotonic): arrivals[part uri] = when the kernel
    received its last byte (time.time() clock), handled[part uri] = when this process read it,
    listed[part uri] = when a playlist naming it came. `hints`: ask for the preload-hinted part
    along with each reload (see `_Follower`)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    transport = _SocketTransport(sock, _Follower(playlist, until, arrivals, durations, listed, done, hints, handled))
    try:
        await done
    finally:
        transport.close()


async def follow_segments(host: str, port: int, playlist: str, until: float) -> int:
    """A legacy HLS player: reload the playlist every segment duration (half of it when
    nothing was new, as hls.js does) and fetch each new segment; returns segments fetched."""
    base = playlist.rsplit("/", 1)[0]
    connection = Connection(host, port)
    seen: set[str] | None = None
    try:
        while time.monotonic() < until:
            status, body = await connection.get(playlist)
            text = body.decode() if status == 200 else ""
            uris = [line for line in text.splitlines() if line and not line.startswith("#")]
            if seen is None and uris:
                seen = set(uris[:-1])  # start at the live edge
            fresh = [uri for uri in uris if uri not in (seen or ())]
            for uri in fresh:
                seen.add(uri)
                await connection.get(f"{base}/{uri}", keep_body=False)
            durations = [float(m.group(1)) for m in EXTINF.finditer(text)]
            interval = durations[-1] if durations else 1.0
            await asyncio.sleep(interval if fresh else interval / 2)
    finally:
        connection.close()
    return len(seen or ())
