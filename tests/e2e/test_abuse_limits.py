"""Abuse limits on a real node: failed API keys and failed publishes (RTMP, SRT, WHIP) limited
per source address with one log line per burst; silent or trickling HTTP connections cut;
request bodies capped. Loopback has many addresses: 127.0.0.2 is "another client"."""

from __future__ import annotations

import select
import socket
import time

import httpx
import pytest

from tests.e2e.conftest import fetch_ok, last_msn, wait_for
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

BURST = 3  # failed attempts an address may make before it is refused at once
REFILL = 6  # seconds to regain one: longer than the checks made while an address is refused
REQUEST_TIMEOUT = 2  # seconds to send a whole request


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    env = {
        "HEADWATER_FAILED_ATTEMPTS_BURST": str(BURST),
        "HEADWATER_FAILED_ATTEMPTS_REFILL": str(REFILL),
        "HEADWATER_HTTP_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
        "HEADWATER_HTTP_IDLE_TIMEOUT": "1",
    }
    node = Node(tmp_path_factory.mktemp("abuse-node"), env=env).start()
    yield node
    node.stop()


@pytest.fixture
def http(node):
    with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as client:
        yield client


def from_address(node: Node, address: str, **headers) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=node.base_url, transport=transport, headers=headers, timeout=15)


def bursts_logged(node: Node, address: str, kind: str) -> int:
    return node.log().count(f"{address}: {BURST} failed {kind} attempts")


def test_bad_api_keys_get_429_for_that_address_only(node, http):
    good_key = node.headers["Authorization"]
    with from_address(node, "127.0.0.2", Authorization="APIKey wrong-key-0123456789") as guesser:
        codes = [guesser.get("/streaming/streams").status_code for _ in range(BURST + 3)]
        assert codes == [403] * BURST + [429] * 3, codes
        refused = guesser.get("/streaming/streams", headers={"Authorization": good_key})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1  # unchecked while refused
        assert http.get("/streaming/streams").status_code == 200  # another address is served
        wait_for(
            lambda: guesser.get("/streaming/streams", headers={"Authorization": good_key}).status_code == 200,
            what="the address to be served again after the window",
        )
    assert bursts_logged(node, "127.0.0.2", "api") == 1
    assert "wrong-key-0123456789" not in node.log()


def test_a_bad_publisher_burst_is_refused_unchecked_then_a_good_one_publishes(node, http):
    stream = http.post("/streaming/streams", json={"name": "abuse"}).json()
    wrong = stream["push_url"].replace(stream["token"], "f" * 32)
    whip = httpx.post(  # a WHIP guess counts too: one allowance for every way of publishing
        f"{node.base_url}/whip/{stream['id']}",
        content="v=0\r\n",
        headers={"Content-Type": "application/sdp", "Authorization": "Bearer " + "e" * 32},
    )
    assert whip.status_code == 403
    guesses = [ffmpeg_publish(wrong, seconds=2) for _ in range(BURST - 1)]
    assert all(guess.wait(timeout=30) != 0 for guess in guesses)
    log_before = node.log()
    whip = httpx.post(
        f"{node.base_url}/whip/{stream['id']}", content="v=0\r\n", headers={"Content-Type": "application/sdp"}
    )
    assert whip.status_code == 429
    good = ffmpeg_publish(stream["push_url"], seconds=2)  # refused before its token is looked at
    srt = ffmpeg_publish(stream["push_url_srt"], seconds=2, container="mpegts")
    assert good.wait(timeout=30) != 0 and srt.wait(timeout=30) != 0
    assert node.log().count("refused") == log_before.count("refused"), "a refusal while blocked was logged"
    assert bursts_logged(node, "127.0.0.1", "publish") == 1
    publisher = publish_once_allowed(http, stream)
    try:  # a blocking reload held by the node longer than the request timeout is answered, not cut
        playlist = f"/live/{stream['id']}/origin/index.m3u8"
        wait_for(lambda: fetch_ok(http, playlist) and last_msn(http, stream["id"]) >= 0, what="a first segment")
        ahead = last_msn(http, stream["id"]) + 2
        assert http.get(playlist, params={"_HLS_msn": ahead, "_HLS_part": 0}).status_code == 200
    finally:
        publisher.kill()
        publisher.wait()
    assert "f" * 32 not in node.log() and "e" * 32 not in node.log()


def publish_once_allowed(http: httpx.Client, stream: dict):
    """A good publisher, started again until the address's window has passed and it plays
    (a refused try is not a failure: it costs the address nothing)."""
    for _ in range(20):
        publisher = ffmpeg_publish(stream["push_url"], seconds=30)
        try:
            wait_for(
                lambda p=publisher: p.poll() is not None or fetch_ok(http, f"/live/{stream['id']}/master.m3u8"),
                timeout=40,
                what="playlist or refusal",
            )
        except AssertionError:
            publisher.kill()
            raise
        if publisher.poll() is None:
            return publisher
        time.sleep(REFILL / 4)
    raise AssertionError("the address was never allowed to publish again")


def closed_while_trickling(port: int, first: bytes, *, byte_every: float = 0.25, most: int = 160) -> bytes:
    """Sends `first`, then one more header byte every `byte_every` s (at most `most`); what the
    node answered once it closed the connection, or fails if it never did."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(first)
        answer = b""
        for _ in range(most):
            readable, _, _ = select.select([sock], [], [], byte_every)
            if readable:
                data = sock.recv(4096)
                if not data:
                    return answer
                answer += data
                continue
            try:
                sock.sendall(b"x")
            except OSError:
                return answer
    raise AssertionError("the node kept a trickling connection open")


def test_slowloris_and_silent_connections_are_cut(node):
    answer = closed_while_trickling(node.http_port, b"GET /health HTTP/1.1\r\nHost: n\r\nX-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408"), answer
    with socket.create_connection(("127.0.0.1", node.http_port)) as silent:
        silent.settimeout(30)
        assert silent.recv(4096).startswith(b"HTTP/1.1 408")
        assert silent.recv(4096) == b""


def test_an_idle_keep_alive_connection_is_closed(node):
    with socket.create_connection(("127.0.0.1", node.http_port)) as sock:
        sock.settimeout(30)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: n\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")
        assert sock.recv(4096) == b""  # closed by the node, not by this socket's timeout


def test_request_bodies_over_the_limit_get_413(node, http):
    big = {"name": "x" * (2 << 20)}
    assert http.post("/streaming/streams", json=big).status_code == 413

    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    chunked = http.post("/streaming/streams", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert http.post("/streaming/streams", json={"name": "small"}).status_code == 201
