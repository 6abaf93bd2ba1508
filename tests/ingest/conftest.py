"""Fixtures for the ingest tests: a recording sink, a running RtmpServer, ffmpeg publishers
and a minimal Python RTMP client for the things ffmpeg will not do (hostile input)."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from ingest.media import MediaMessage
from ingest.publish import PublishRejected, PublishRequest
from ingest.rtmp import RtmpServer, amf0
from ingest.rtmp.chunk import ChunkReader, ChunkWriter, RtmpMessage
from ingest.rtmp.handshake import PACKET_SIZE

FFMPEG = shutil.which("ffmpeg")
IO_TIMEOUT = 15.0


class RecordingSink:
    """Keeps every message and every close() call, as the node's sink would see them."""

    def __init__(self, request: PublishRequest) -> None:
        self.request = request
        self.messages: list[MediaMessage] = []
        self.close_reasons: list[str] = []
        self.closed = asyncio.Event()

    def write(self, message: MediaMessage) -> None:
        assert not self.close_reasons, "write after close"
        self.messages.append(message)

    def close(self, reason: str) -> None:
        self.close_reasons.append(reason)
        self.closed.set()

    async def wait_closed(self) -> None:
        await asyncio.wait_for(self.closed.wait(), IO_TIMEOUT)


@dataclass
class Authorizer:
    """Accepts a stream whose query is ``token`` (BadName for names starting "unknown");
    records requests and sinks."""

    sinks: dict[str, RecordingSink] = field(default_factory=dict)
    requests: list[PublishRequest] = field(default_factory=list)
    token: str = "good"

    async def __call__(self, request: PublishRequest) -> RecordingSink:
        self.requests.append(request)
        if request.name.startswith("unknown"):
            raise PublishRejected("no such stream", unknown_stream=True)
        if request.query != self.token:
            raise PublishRejected("invalid token")
        sink = self.sinks[request.name] = RecordingSink(request)
        return sink

    async def sink(self, name: str) -> RecordingSink:
        for _ in range(int(IO_TIMEOUT * 20)):
            if name in self.sinks:
                return self.sinks[name]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no publish for {name}")


@pytest.fixture
def authorizer() -> Authorizer:
    return Authorizer()


@pytest.fixture
async def server(authorizer: Authorizer) -> AsyncIterator[RtmpServer]:
    rtmp = RtmpServer(authorizer, handshake_timeout=0.5)
    await rtmp.start("127.0.0.1", 0)
    yield rtmp
    await rtmp.close()


def ffmpeg_publish_args(
    url: str,
    seconds: float = 3,
    video: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-g", "25"),
    audio: tuple[str, ...] = ("-c:a", "aac"),
    extra: tuple[str, ...] = (),
) -> list[str]:
    return [
        FFMPEG,
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        str(seconds),
        *video,
        *audio,
        *extra,
        "-f",
        "flv",
        url,
    ]


async def run_ffmpeg(args: list[str], timeout: float = 30) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(*args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode, stderr.decode(errors="replace")


@pytest.fixture
def healthy_publisher(server: RtmpServer, authorizer: Authorizer) -> Callable[[], asyncio.Task]:
    """Starts a well-behaved ffmpeg publisher; awaiting the task checks it went all the way."""

    if FFMPEG is None:
        pytest.skip("ffmpeg not installed")

    def start(name: str = "healthy", seconds: float = 3) -> asyncio.Task:
        async def publish_and_check() -> RecordingSink:
            url = f"rtmp://127.0.0.1:{server.port}/in/{name}?good"
            code, stderr = await run_ffmpeg(ffmpeg_publish_args(url, seconds))
            assert code == 0, stderr
            sink = await authorizer.sink(name)
            await sink.wait_closed()
            assert sink.close_reasons == ["unpublished"]
            video = [m for m in sink.messages if m.kind == 9]
            assert len(video) >= seconds * 25 - 2
            assert video[-1].timestamp >= (seconds - 0.2) * 1000
            return sink

        return asyncio.get_running_loop().create_task(publish_and_check())

    return start


# ---------------------------------------------------------------- a minimal client


class RawRtmpClient:
    """Just enough of an RTMP publisher to drive the server into corners."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.chunks = ChunkWriter()
        self.incoming = ChunkReader()

    @classmethod
    async def open(cls, port: int, ssl_context: ssl.SSLContext | None = None) -> RawRtmpClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_context)
        return cls(reader, writer)

    async def handshake(self) -> None:
        c1 = os.urandom(PACKET_SIZE)
        self.writer.write(b"\x03" + c1)
        s012 = await asyncio.wait_for(self.reader.readexactly(1 + 2 * PACKET_SIZE), IO_TIMEOUT)
        assert s012[0] == 3
        assert s012[1 + PACKET_SIZE :] == c1, "S2 must echo C1"
        self.writer.write(s012[1 : 1 + PACKET_SIZE])  # C2 echoes S1

    def send(self, type_id: int, payload: bytes, csid: int = 3, stream_id: int = 0, timestamp: int = 0) -> None:
        self.writer.write(self.chunks.encode(csid, type_id, stream_id, timestamp, payload))

    def command(self, name: str, transaction: float, *args: object, stream_id: int = 0) -> None:
        self.send(20, amf0.encode(name, transaction, *args), stream_id=stream_id)

    async def read_message(self) -> RtmpMessage:
        while True:
            message = self.incoming.next_message()
            if message is not None:
                if message.type_id == 1:
                    self.incoming.set_chunk_size(int.from_bytes(message.payload[:4], "big"))
                return message
            data = await asyncio.wait_for(self.reader.read(65536), IO_TIMEOUT)
            if not data:
                raise ConnectionError("server closed the connection")
            self.incoming.feed(data)

    async def read_command(self, name: str | None = None) -> list:
        while True:
            message = await self.read_message()
            if message.type_id == 20:
                values = amf0.decode(message.payload)
                if name is None or values[0] == name:
                    return values

    async def publish(self, app: str, stream: str) -> dict:
        """connect, createStream, publish; returns the onStatus info object."""
        await self.handshake()
        self.command("connect", 1.0, {"app": app, "type": "nonprivate", "tcUrl": f"rtmp://127.0.0.1/{app}"})
        result = await self.read_command("_result")
        assert result[3]["code"] == "NetConnection.Connect.Success"
        self.command("createStream", 2.0, None)
        result = await self.read_command("_result")
        stream_id = int(result[3])
        self.command("publish", 3.0, None, stream, "live", stream_id=stream_id)
        status = await self.read_command("onStatus")
        return status[3]

    async def closed_by_server(self) -> bool:
        """True once the server closes the connection (EOF or reset)."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), IO_TIMEOUT):
                pass
        except ConnectionError:
            pass
        return True

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def raw_client() -> type[RawRtmpClient]:
    return RawRtmpClient


@pytest.fixture
def ffmpeg_publish() -> Callable[..., asyncio.Future[tuple[int, str]]]:
    """``await ffmpeg_publish(url, seconds=3, video=(...), audio=(...), extra=(...))`` → (exit code, stderr)."""
    if FFMPEG is None:
        pytest.skip("ffmpeg not installed")

    async def publish(url: str, **options: object) -> tuple[int, str]:
        return await run_ffmpeg(ffmpeg_publish_args(url, **options))

    return publish
