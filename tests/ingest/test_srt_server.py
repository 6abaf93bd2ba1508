"""SrtServer against Debian's ffmpeg as the caller, with stand-in node callbacks: what the
listener itself guarantees (routing, vetting before data, closing on the node's word)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from ingest.publish import PublishRejected
from ingest.srt.server import SrtServer
from tests.support.ports import free_port

TS_PACKET = 188


class Sink:
    def __init__(self, request, refuse_after: int | None = None) -> None:
        self.request = request
        self.data = bytearray()
        self.refuse_after = refuse_after
        self.closed = asyncio.Event()
        self.reasons: list[str] = []

    def write(self, data: bytes) -> None:
        if self.refuse_after is not None and len(self.data) >= self.refuse_after:
            raise PublishRejected("enough")
        self.data += data

    def close(self, reason: str) -> None:
        self.reasons.append(reason)
        self.closed.set()


class Node:
    """vet/authorize as the supervisor would answer them, recording what was asked."""

    def __init__(self) -> None:
        self.sinks: list[Sink] = []
        self.vet_delay = 0.0
        self.refuse_after: int | None = None

    async def vet(self, request):
        await asyncio.sleep(self.vet_delay)
        if request.app != "in" or request.name != "7":
            raise PublishRejected("unknown stream", unknown_stream=True)
        if request.query != "token":
            raise PublishRejected("wrong token")
        return None

    async def authorize(self, request):
        sink = Sink(request, self.refuse_after)
        self.sinks.append(sink)
        return sink


@pytest.fixture
async def listener():
    node = Node()
    server = SrtServer(node.vet, node.authorize)
    await server.start("127.0.0.1", free_port(socket.SOCK_DGRAM))
    yield server, node
    await server.close()


async def push(port: int, streamid: str, seconds: float = 2) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-f", "mpegts",
        f"srt://127.0.0.1:{port}?streamid={streamid}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, errors = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode, errors.decode(errors="replace")


async def test_accepted_caller_delivers_mpegts(listener):
    server, node = listener
    code, errors = await push(server.port, "in/7/token")
    assert code == 0, errors
    sink = node.sinks[0]
    await asyncio.wait_for(sink.closed.wait(), 10)
    assert (sink.request.protocol, sink.request.app, sink.request.name) == ("srt", "in", "7")
    assert len(sink.data) > 10_000 and len(sink.data) % TS_PACKET == 0
    assert all(sink.data[i] == 0x47 for i in range(0, len(sink.data), TS_PACKET))


async def test_refused_callers_never_reach_authorize(listener):
    server, node = listener
    for streamid in ("in/7/nope", "in/8/token", "garbage"):
        code, _ = await push(server.port, streamid, seconds=1)
        assert code != 0
    assert node.sinks == []


async def test_node_too_slow_to_vet_is_a_refusal(listener):
    server, node = listener
    node.vet_delay = 3.0
    code, _ = await push(server.port, "in/7/token", seconds=1)
    assert code != 0 and node.sinks == []


async def test_sink_refusal_closes_the_connection(listener):
    server, node = listener
    node.refuse_after = 20_000
    code, _ = await push(server.port, "in/7/token", seconds=10)
    assert code != 0  # the caller saw its connection end
    await asyncio.wait_for(node.sinks[0].closed.wait(), 10)
