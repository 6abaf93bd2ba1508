"""LiveWireProtocol on a real uvicorn server: which requests it answers itself, and that
keep-alive, pipelining, HEAD, `Connection: close` and vanished clients behave as through
uvicorn. What the answers contain is tested for both paths in test_live_http.py."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from server.delivery.live_http import LiveFirst, LiveHttp
from server.delivery.live_state import LiveStream
from tests.delivery.test_live_http import not_found_app, publish_part
from tests.support.live_server import serve_live
from tests.support.worker_events import worker_event

RELOAD = b"GET /live/7/origin/index.m3u8?_HLS_msn=1&_HLS_part=0 HTTP/1.1\r\nHost: n\r\n\r\n"
MASTER = b"GET /live/7/master.m3u8 HTTP/1.1\r\nHost: n\r\n\r\n"


def part_get(msn: int, part: int) -> bytes:
    return f"GET /live/7/origin/seg_{msn}.{part}.m4s HTTP/1.1\r\nHost: n\r\n\r\n".encode()


class CountingLive(LiveHttp):
    """LiveHttp that notes each request the ASGI app had to answer."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asgi_paths: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        self.asgi_paths.append(f"{scope['method']} {scope['path']}")
        await super().__call__(scope, receive, send)


@pytest.fixture
async def live(tmp_path) -> LiveStream:
    stream = LiveStream(7, tmp_path, asyncio.get_running_loop())
    stream.apply(worker_event({"event": "master", "path": "master.m3u8", "text": "#EXTM3U\n"}))
    publish_part(stream, 0, 0, b"part zero")
    return stream


@pytest.fixture
async def app(live) -> CountingLive:
    return CountingLive(lambda i: live if i == 7 else None, segment_target=1.0, part_target=0.2)


@pytest.fixture
async def port(app):
    async with serve_live(LiveFirst(not_found_app, app), timeout_keep_alive=0.3) as port:
        yield port


async def read_responses(
    reader: asyncio.StreamReader, count: int, heads: tuple[int, ...] = ()
) -> list[tuple[bytes, bytes]]:
    """`count` responses (head, body) off one connection, each framed by its content-length;
    those numbered in `heads` answer HEAD requests (no body)."""
    responses = []
    for number in range(count):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = b"" if number in heads else await reader.readexactly(length)
        responses.append((head, body))
    return responses


async def test_live_gets_are_answered_without_the_asgi_app(app, port, live):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(MASTER + b"GET /live/7/origin/seg_0.0.m4s HTTP/1.1\r\nHost: n\r\n\r\n" + RELOAD)
    first = await read_responses(reader, 2)
    publish_part(live, 1, 0)
    ((head, body),) = await read_responses(reader, 1)
    writer.close()
    assert [body for _, body in first] == [b"#EXTM3U\n", b"part zero"]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"date: " in head and b"server: uvicorn" in head
    assert b"msn=1 part=0" in body
    assert app.asgi_paths == []


async def test_head_growing_segments_and_other_paths_go_through_asgi(app, port, live):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"HEAD /live/7/master.m3u8 HTTP/1.1\r\nHost: n\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.write(b"GET /live/7/origin/seg_0.m4s HTTP/1.1\r\nHost: n\r\n\r\n")  # still growing
    await asyncio.sleep(0.05)
    live.apply(
        worker_event({"event": "segment", "rendition": "origin", "msn": 0, "path": "origin/seg_0.m4s", "duration": 1.0})
    )
    chunked = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 8\r\n" in head
    assert b"transfer-encoding: chunked" in chunked and b"part zero" in chunked
    assert app.asgi_paths == ["HEAD /live/7/master.m3u8", "GET /live/7/origin/seg_0.m4s"]


async def test_pipelined_requests_are_answered_in_order(app, port, live):
    """A request held here, then one for uvicorn's ASGI path behind it, then one for here."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(RELOAD + MASTER.replace(b"GET", b"HEAD") + MASTER)
    await asyncio.sleep(0.1)
    publish_part(live, 1, 0)
    responses = await read_responses(reader, 3, heads=(1,))
    writer.close()
    assert b"msn=1 part=0" in responses[0][1]
    assert b"content-length: 8" in responses[1][0]
    assert responses[2][1] == b"#EXTM3U\n"


async def test_a_hinted_part_pipelined_behind_a_reload_is_answered_here_by_the_same_event(app, port, live):
    """As Apple's players ask: the blocking reload and the preload-hinted part together."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(RELOAD + part_get(1, 0))
    await asyncio.sleep(0.1)
    publish_part(live, 1, 0, b"part one")
    responses = await read_responses(reader, 2)
    writer.write(MASTER)  # and the connection goes on
    ((_, master),) = await read_responses(reader, 1)
    writer.close()
    assert b"msn=1 part=0" in responses[0][1] and responses[1][1] == b"part one"
    assert master == b"#EXTM3U\n" and app.asgi_paths == []


async def test_an_answer_ready_behind_a_held_request_waits_for_it(app, port, live):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(RELOAD + part_get(0, 0))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.2)
    publish_part(live, 1, 0)
    responses = await read_responses(reader, 2)
    writer.close()
    assert b"msn=1 part=0" in responses[0][1] and responses[1][1] == b"part zero"
    assert app.asgi_paths == []


async def test_a_third_request_behind_two_held_goes_through_uvicorn_in_order(app, port, live):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(RELOAD + part_get(1, 0) + MASTER)
    await asyncio.sleep(0.1)
    publish_part(live, 1, 0, b"part one")
    responses = await read_responses(reader, 3)
    writer.close()
    assert [body for _, body in responses[1:]] == [b"part one", b"#EXTM3U\n"]
    assert app.asgi_paths == ["GET /live/7/master.m3u8"]


async def test_a_follower_held_past_the_keep_alive_timeout_keeps_its_connection(app, port, live):
    """The reload is answered; the part behind it (hinted further ahead) comes 0.6 s later,
    past the fixture's 0.3 s keep-alive timeout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(RELOAD + part_get(1, 1))
    await asyncio.sleep(0.05)
    publish_part(live, 1, 0)
    ((_, reload),) = await read_responses(reader, 1)
    await asyncio.sleep(0.6)
    publish_part(live, 1, 1, b"part 1.1")
    ((_, part),) = await read_responses(reader, 1)
    writer.write(MASTER)
    ((_, master),) = await read_responses(reader, 1)
    writer.close()
    assert b"msn=1 part=0" in reload and part == b"part 1.1" and master == b"#EXTM3U\n"


async def test_a_held_request_outlives_the_keep_alive_timeout(port, live):
    """The fixture's keep-alive timeout is 0.3 s; a blocking reload held for longer still gets
    its answer, also when it came pipelined behind one answered at once."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(MASTER + RELOAD)
    await asyncio.sleep(0.6)
    publish_part(live, 1, 0)
    responses = await read_responses(reader, 2)
    await asyncio.sleep(0.6)  # idle now: the timeout closes the connection
    closed = await asyncio.wait_for(reader.read(1), 2)
    writer.close()
    assert b"msn=1 part=0" in responses[1][1] and closed == b""


async def test_a_client_gone_while_held_does_not_disturb_the_others(port, live):
    _, gone = await asyncio.open_connection("127.0.0.1", port)
    gone.write(RELOAD)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(RELOAD)
    await asyncio.sleep(0.05)
    gone.close()
    await asyncio.sleep(0.05)
    publish_part(live, 1, 0)
    ((_, body),) = await read_responses(reader, 1)
    writer.write(MASTER)
    ((_, again),) = await read_responses(reader, 1)
    writer.close()
    assert b"msn=1 part=0" in body and again == b"#EXTM3U\n"


async def test_many_held_clients_get_the_same_answer_from_one_event(port, live):
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(50)]
    for _, writer in connections:
        writer.write(RELOAD)
    await asyncio.sleep(0.1)
    publish_part(live, 1, 0)
    answers = {(await read_responses(reader, 1))[0] for reader, _ in connections}
    for _, writer in connections:
        writer.close()
    assert len(answers) == 1
    ((head, body),) = answers
    assert head.startswith(b"HTTP/1.1 200 OK") and f"content-length: {len(body)}\r\n".encode() in head


@pytest.mark.parametrize(
    "request_line",
    [b"GET /live/7/master.m3u8 HTTP/1.0\r\n", b"GET /live/7/master.m3u8 HTTP/1.1\r\nConnection: close\r\n"],
)
async def test_a_connection_to_be_closed_is_left_to_uvicorn(app, port, request_line):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_line + b"Host: n\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()
    assert data.endswith(b"\r\n\r\n#EXTM3U\n") and app.asgi_paths == ["GET /live/7/master.m3u8"]


async def test_bad_queries_are_bad_requests_and_the_server_goes_on(port, live):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /live/7/origin/index.m3u8?_HLS_msn=%ff%fe HTTP/1.1\r\nHost: n\r\n\r\n" + MASTER)
    (bad, _), (_, body) = await read_responses(reader, 2)
    writer.write(b"GET /live/7/origin/index.m3u8?_HLS_msn=\xff HTTP/1.1\r\nHost: n\r\n\r\n")
    rejected = await asyncio.wait_for(reader.read(), 5)  # httptools refuses the URL: 400, closed
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(MASTER)
    ((_, again),) = await read_responses(reader, 1)
    writer.close()
    assert bad.startswith(b"HTTP/1.1 400 ") and body == b"#EXTM3U\n"
    assert rejected.startswith(b"HTTP/1.1 400 ") and again == b"#EXTM3U\n"


def complete_segments(live: LiveStream, first: int, last: int, sizes: dict[int, int] | None = None) -> dict[int, bytes]:
    """Segments `first`..`last` written whole (one part each) and completed; their bytes."""
    written = {}
    for msn in range(first, last + 1):
        data = bytes([msn % 251]) * (sizes or {}).get(msn, 1000 + msn)
        publish_part(live, msn, 0, data)
        live.apply(
            worker_event(
                {
                    "event": "segment",
                    "rendition": "origin",
                    "msn": msn,
                    "path": f"origin/seg_{msn}.m4s",
                    "duration": 1.0,
                }
            )
        )
        written[msn] = data
    return written


def segment_get(msn: int) -> bytes:
    return f"GET /live/7/origin/seg_{msn}.m4s HTTP/1.1\r\nHost: n\r\n\r\n".encode()


@pytest.fixture
def sendfile_calls(monkeypatch):
    calls = []
    sendfile = os.sendfile

    def counting(out, fd, offset, count):
        calls.append((offset, count))
        return sendfile(out, fd, offset, count)

    monkeypatch.setattr(os, "sendfile", counting)
    return calls


async def test_old_dvr_segments_are_sent_from_their_files_not_cached(app, port, live, sendfile_calls):
    """A segment 10 or more behind the newest is a DVR viewer's: sendfile from its file, here,
    without the ASGI app, and not kept in the cache; a recent one is served from memory."""
    written = complete_segments(live, 1, 20)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(segment_get(3) + segment_get(20) + MASTER)
    responses = await read_responses(reader, 3)
    writer.close()
    assert [body for _, body in responses] == [written[3], written[20], b"#EXTM3U\n"]
    assert b"content-length: 1003\r\n" in responses[0][0] and b"immutable" in responses[0][0]
    assert sendfile_calls and all(count <= 1003 for _, count in sendfile_calls)  # segment 3 only
    assert "origin/seg_3.m4s" not in live.cache and "origin/seg_20.m4s" in live.cache
    assert app.asgi_paths == []


async def test_a_large_old_segment_to_a_slow_reader_arrives_whole_then_the_next_answer(app, port, live, sendfile_calls):
    """More than the socket holds: sendfile goes on as the reader drains it, and a request
    pipelined behind it is answered after its last byte."""
    written = complete_segments(live, 1, 12, sizes={1: 24_000_000})
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
    writer.write(segment_get(1) + MASTER)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    body = bytearray()
    while len(body) < len(written[1]):
        body += await asyncio.wait_for(reader.read(1 << 20), 5)
        await asyncio.sleep(0.001)
    extra = bytes(body[len(written[1]) :])
    ((_, master),) = await read_responses(_prefixed(extra, reader), 1)
    writer.close()
    assert b"content-length: 24000000\r\n" in head and bytes(body[: len(written[1])]) == written[1]
    assert master == b"#EXTM3U\n" and len(sendfile_calls) > 1  # the socket filled up at least once


async def test_an_old_segment_through_asgi_is_read_from_its_file(tmp_path):
    live = LiveStream(7, tmp_path, asyncio.get_running_loop())
    written = complete_segments(live, 1, 12)
    app = LiveHttp(lambda i: live if i == 7 else None, segment_target=1.0, part_target=0.2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as client:
        response = await client.get("/live/7/origin/seg_2.m4s")
        (live.directory / "origin/seg_1.m4s").unlink()
        gone = await client.get("/live/7/origin/seg_1.m4s")
    assert response.content == written[2] and gone.status_code == 404


def _prefixed(data: bytes, reader: asyncio.StreamReader) -> asyncio.StreamReader:
    """A reader that yields `data` before what `reader` has left."""
    prefixed = asyncio.StreamReader()
    prefixed.feed_data(data)

    async def pump() -> None:
        while chunk := await reader.read(65536):
            prefixed.feed_data(chunk)
        prefixed.feed_eof()

    asyncio.get_running_loop().create_task(pump())
    return prefixed
