"""OneWriteProtocol: a real uvicorn server on 127.0.0.1 whose responses leave in one write
(head and body together), with uvicorn's HTTP semantics unchanged."""

from __future__ import annotations

import asyncio
import os

import pytest
import uvicorn

from server.one_write_http import ZERO_COPY, OneWriteProtocol
from tests.support.ports import free_port


class _RecordingTransport:
    """The server's real transport, with every write it is given noted down."""

    def __init__(self, transport, writes: list) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data) -> None:
        self._writes.append(("write", bytes(data)))
        self._transport.write(data)

    def writelines(self, parts) -> None:
        parts = [bytes(p) for p in parts]
        self._writes.append(("writelines", b"".join(parts)))
        self._transport.writelines(parts)

    def __getattr__(self, name):
        return getattr(self._transport, name)


WRITES: list = []
FILE_PATH = None  # set by the `server` fixture


class RecordingProtocol(OneWriteProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(_RecordingTransport(transport, WRITES))


FILE = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than a loopback socket takes at once
FILE_RANGE = (1000, len(FILE) - 2000)  # offset, count


async def _app(scope, receive, send) -> None:
    path = scope["path"]
    if path == "/file":  # the zero-copy extension, then a last body message
        assert ZERO_COPY in scope["extensions"]
        offset, count = FILE_RANGE
        headers = [(b"content-length", str(count + 1).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        fd = os.open(FILE_PATH, os.O_RDONLY)
        try:
            await send({"type": ZERO_COPY, "file": fd, "offset": offset, "count": count, "more_body": True})
        finally:
            os.close(fd)
        await send({"type": "http.response.body", "body": b"!"})
        return
    if path == "/chunks":  # no content-length: chunked, sent in two body messages
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})
        return
    headers = [(b"content-length", b"5"), (b"content-type", b"text/plain")]
    if path == "/close":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture
async def server(tmp_path):
    global FILE_PATH
    FILE_PATH = tmp_path / "file.bin"
    FILE_PATH.write_bytes(FILE)
    port = free_port()
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=port, http=RecordingProtocol, lifespan="off", log_level="warning"
    )
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    while not instance.started:  # noqa: ASYNC110 - uvicorn sets a flag, it has no event to wait on
        await asyncio.sleep(0.01)
    WRITES.clear()
    yield port
    instance.should_exit = True
    await task


async def _exchange(port: int, requests: bytes, until: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(requests)
    data = b""
    while not data.endswith(until):
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        data += chunk
    writer.close()
    return data


async def test_a_response_is_one_write_and_keep_alive_still_works(server):
    request = b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n"
    data = await _exchange(server, request + request.replace(b"GET", b"HEAD"), b"\r\n\r\n")
    first, second = data.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 OK\r\n") and first.endswith(b"\r\n\r\nhello")
    assert b"content-length: 5\r\n" in second and second.endswith(b"\r\n\r\n")  # HEAD: no body
    assert [kind for kind, _ in WRITES] == ["writelines", "writelines"]
    assert WRITES[0][1] == b"HTTP/1.1 " + first


async def test_a_streamed_body_sends_its_head_with_the_first_chunk(server):
    data = await _exchange(server, b"GET /chunks HTTP/1.1\r\nHost: x\r\n\r\n", b"0\r\n\r\n")
    assert data.endswith(b"\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n")
    assert [kind for kind, _ in WRITES] == ["writelines", "write"]
    assert WRITES[0][1].endswith(b"transfer-encoding: chunked\r\n\r\n3\r\none\r\n")


async def test_connection_close_is_honoured_after_the_one_write(server):
    data = await _exchange(server, b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n", b"hello")
    assert data.endswith(b"\r\n\r\nhello") and b"connection: close" in data
    assert [kind for kind, _ in WRITES] == ["writelines"]


async def test_a_zero_copy_send_to_a_slow_reader_arrives_whole_and_keeps_the_connection(server):
    """sendfile while the socket takes it, the transport when it is full (the reader pauses)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    request = b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n"
    writer.write(request + request.replace(b"GET", b"HEAD") + b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
    offset, count = FILE_RANGE
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK") and f"content-length: {count + 1}".encode() in head
    await asyncio.sleep(0.3)  # the socket fills up meanwhile
    body = await asyncio.wait_for(reader.readexactly(count + 1), 10)
    assert body == FILE[offset : offset + count] + b"!"
    rest = b""
    while not rest.endswith(b"hello"):
        rest += await asyncio.wait_for(reader.read(65536), 5)
    head_answer, small = rest.split(b"HTTP/1.1 ")[1:]
    assert head_answer.endswith(b"\r\n\r\n")  # HEAD: the head only
    assert small.startswith(b"200 OK") and small.endswith(b"\r\n\r\nhello")
    writer.close()
