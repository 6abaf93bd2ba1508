"""A lean LL-HLS client for benchmarks: raw HTTP/1.1 keep-alive on asyncio streams.

httpx costs more CPU per request than the server being measured; hundreds of these fit in
one process. Each follows one media playlist with blocking reloads and fetches every new
part, recording when each part's bytes arrived.
"""

from __future__ import annotations

import asyncio
import re
import time

PART = re.compile(r'#EXT-X-PART:DURATION=([0-9.]+),URI="([^"]+)"')
MEDIA_SEQUENCE = re.compile(r"#EXT-X-MEDIA-SEQUENCE:(\d+)")
EXTINF = re.compile(r"#EXTINF:([0-9.]+)")


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


async def follow(host: str, port: int, playlist: str, until: float, arrivals: dict[str, float],
                 durations: dict[str, float] | None = None, listed: dict[str, float] | None = None) -> None:
    """Blocking-reload loop until `until` (monotonic): arrivals[part uri] = when its bytes came
    (time.time()), listed[part uri] = when a playlist naming it came."""
    base = playlist.rsplit("/", 1)[0]
    connection = Connection(host, port)
    try:
        status, body = await connection.get(playlist)
        while status != 200 and time.monotonic() < until:
            await asyncio.sleep(0.1)
            status, body = await connection.get(playlist)
        msn, index, parts = last_part(body.decode())
        seen = {uri for uri, _ in parts}
        while time.monotonic() < until:
            status, body = await connection.get(f"{playlist}?_HLS_msn={msn}&_HLS_part={index + 1}")
            if status != 200:
                await asyncio.sleep(0.05)
                continue
            msn, index, parts = last_part(body.decode())
            now = time.time()
            for uri, duration in parts:
                if uri in seen:
                    continue
                seen.add(uri)
                if listed is not None:
                    listed[uri] = now
                status, _ = await connection.get(f"{base}/{uri}", keep_body=False)
                if status == 200:
                    arrivals[uri] = time.time()
                    if durations is not None:
                        durations[uri] = duration
    finally:
        connection.close()


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
