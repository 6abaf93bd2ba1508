"""Signed playback on a real uvicorn server with the node's protocol: the live fast path
(`live_wire`) and the ASGI wrapper (`signed_http`) check the same tokens and answer a signed
request as they answer an unsigned one when signing is off."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.delivery.live_http import LiveFirst
from server.delivery.live_state import LiveStream
from server.delivery.playback_tokens import PlaybackTokens
from server.delivery.signed_http import PLAYBACK_TOKEN, SignedPlayback
from tests.delivery.test_live_http import publish_part
from tests.delivery.test_live_wire import CountingLive, read_responses
from tests.support.live_server import serve_live
from tests.support.worker_events import worker_event

SECRET = b"0123456789abcdef0123456789abcdef"


class Behind:
    """The app behind the live one: notes the paths and tokens it was handed."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, str | None]] = []

    async def __call__(self, scope, receive, send) -> None:
        self.seen.append((scope["path"], scope["raw_path"], scope.get(PLAYBACK_TOKEN)))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def live(tmp_path) -> LiveStream:
    stream = LiveStream(7, tmp_path, asyncio.get_running_loop())
    stream.apply(worker_event({"event": "master", "path": "master.m3u8", "text": "#EXTM3U\n"}))
    publish_part(stream, 0, 0, b"part zero")
    return stream


def tokens_for(bind_address: bool = False) -> PlaybackTokens:
    return PlaybackTokens(SECRET, ttl=3600, bind_address=bind_address)


async def serve(live: LiveStream, tokens: PlaybackTokens):
    app = CountingLive(lambda i: live if i == 7 else None, segment_target=1.0, part_target=0.2)
    behind = Behind()
    return app, behind, serve_live(SignedPlayback(LiveFirst(behind, app), tokens), tokens)


def get(path: str, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: n\r\n{extra}\r\n".encode()


async def test_signed_live_requests_are_answered_on_the_fast_path_and_unsigned_ones_refused(live):
    tokens = tokens_for()
    token = tokens.token("/live/7/")
    expired = tokens.token_until("/live/7/", int(time.time()) - 10)
    app, _, server = await serve(live, tokens)
    async with server as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            get(f"/live/7/{token}master.m3u8")
            + get(f"/live/7/{token}origin/seg_0.0.m4s")
            + get("/live/7/master.m3u8")
            + get(f"/live/8/{token}master.m3u8")
            + get(f"/live/7/{expired}master.m3u8")
            + get(f"/live/7/{token}origin/index.m3u8?_HLS_msn=1&_HLS_part=0")
        )
        answered = await read_responses(reader, 5)
        publish_part(live, 1, 0)
        ((reload_head, reload),) = await read_responses(reader, 1)
        writer.close()
    assert [body for _, body in answered] == [
        b"#EXTM3U\n",
        b"part zero",
        b"playback token required\n",
        b"invalid playback token\n",
        b"playback token expired\n",
    ]
    assert all(head.startswith(b"HTTP/1.1 403") for head, _ in answered[2:])
    assert b"access-control-allow-origin: *" in answered[2][0]
    assert reload_head.startswith(b"HTTP/1.1 200") and b"msn=1 part=0" in reload
    assert app.asgi_paths == []  # every one of them on the fast path


async def test_requests_left_to_asgi_are_checked_there_and_routed_without_the_token(live):
    tokens = tokens_for()
    token = tokens.token("/live/7/")
    video = tokens.token("/videos/3_abc/")
    clip = tokens.token("/clips/Zx9_-/")
    app, behind, server = await serve(live, tokens)
    async with server as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            get(f"/live/7/{token}master.m3u8", "HEAD")
            + get("/live/7/master.m3u8", "HEAD")
            + get(f"/videos/3_abc/{video}video.m3u8")
            + get(f"/videos/3_abc/{token}video.m3u8")
            + get(f"/clips/Zx9_-/{clip}0/video.m3u8")
            + get(f"/clips/Zx9_-/{video}0/video.m3u8")
            + get(f"/player/7/{token[:-1]}")
            + get("/player/assets/hls.min.js")
            + get("/live/7/master.m3u8", "OPTIONS")
        )
        answered = await read_responses(reader, 9, heads=(0, 1))
        writer.close()
    statuses = [int(head.split(b" ")[1]) for head, _ in answered]
    assert statuses == [200, 403, 200, 403, 200, 403, 200, 200, 204]
    assert b"content-length: 8" in answered[0][0]
    assert app.asgi_paths == ["HEAD /live/7/master.m3u8", "OPTIONS /live/7/master.m3u8"]
    assert behind.seen == [
        ("/videos/3_abc/video.m3u8", b"/videos/3_abc/video.m3u8", video),
        ("/clips/Zx9_-/0/video.m3u8", b"/clips/Zx9_-/0/video.m3u8", clip),
        ("/player/7", b"/player/7", token),
        ("/player/assets/hls.min.js", b"/player/assets/hls.min.js", None),
    ]


async def test_with_the_address_bound_a_forwarded_request_is_left_to_asgi(live):
    """Behind a proxy uvicorn trusts (loopback by default), the ASGI scope's client is the
    forwarded address, which the fast path does not read: it leaves such requests to ASGI."""
    tokens = tokens_for(bind_address=True)
    here = tokens.token("/live/7/", "127.0.0.1")
    viewer = tokens.token("/live/7/", "198.51.100.4")
    app, _, server = await serve(live, tokens)
    async with server as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            get(f"/live/7/{here}master.m3u8")
            + get(f"/live/7/{viewer}master.m3u8")
            + get(f"/live/7/{viewer}master.m3u8", extra="X-Forwarded-For: 198.51.100.4\r\n")
        )
        answered = await read_responses(reader, 3)
        writer.close()
    assert [int(head.split(b" ")[1]) for head, _ in answered] == [200, 403, 200]
    assert app.asgi_paths == ["GET /live/7/master.m3u8"]  # the forwarded one


async def test_a_token_that_expires_during_a_connection_is_refused_from_then_on(live):
    """The fast path checks a connection's token once, then remembers it until its expiry."""
    tokens = tokens_for()
    # Whole seconds: at least one full second left for the first two requests.
    token = tokens.token_until("/live/7/", int(time.time()) + 2)
    _, _, server = await serve(live, tokens)
    async with server as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get(f"/live/7/{token}master.m3u8") + get(f"/live/7/{token}origin/seg_0.0.m4s"))
        before = await read_responses(reader, 2)
        await asyncio.sleep(max(0.0, int(token.split("/")[1]) + 1.05 - time.time()))
        writer.write(get(f"/live/7/{token}master.m3u8"))
        after = await read_responses(reader, 1)
        writer.close()
    assert [body for _, body in before] == [b"#EXTM3U\n", b"part zero"]
    assert after[0][1] == b"playback token expired\n"


async def test_apples_reload_and_hinted_part_pipelined_are_answered_by_one_event(live):
    """Safari's way: the blocking reload and the preload-hinted part sent together, both signed."""
    tokens = tokens_for()
    token = tokens.token("/live/7/")
    app, _, server = await serve(live, tokens)
    async with server as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            get(f"/live/7/{token}origin/index.m3u8?_HLS_msn=1&_HLS_part=0&_HLS_skip=YES")
            + get(f"/live/7/{token}origin/seg_1.0.m4s")
        )
        await asyncio.sleep(0.1)
        publish_part(live, 1, 0, b"part one")
        responses = await read_responses(reader, 2)
        writer.close()
    assert b"msn=1 part=0" in responses[0][1] and responses[1][1] == b"part one"
    assert app.asgi_paths == []
