"""SrtServer against Debian's ffmpeg as the caller, with stand-in node callbacks: what the
listener itself guarantees (routing, vetting before data, closing on the node's word, libsrt
holding the port only while callers are around)."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.publish import PublishRejected
from ingest.srt import port as srt_port
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
        self.vet_fails = False
        self.refuse_after: int | None = None

    def vet(self, request):
        if self.vet_fails:
            raise RuntimeError("vet broke")
        if request.app != "in" or request.name != "7":
            raise PublishRejected("unknown stream", unknown_stream=True)
        if request.query != "token":
            raise PublishRejected("wrong token")
        return None

    async def authorize(self, request):
        sink = Sink(request, self.refuse_after)
        self.sinks.append(sink)
        return sink


async def started_server() -> tuple[SrtServer, Node]:
    node = Node()
    server = SrtServer(node.vet, node.authorize)
    await server.start("127.0.0.1", free_port(socket.SOCK_DGRAM))
    return server, node


@pytest.fixture
async def listener():
    server, node = await started_server()
    yield server, node
    await server.close()


@pytest.fixture
async def lingering(monkeypatch):
    """A listener whose libsrt lets go of the port one second after the last caller."""
    monkeypatch.setattr(srt_port, "LINGER", 1.0)
    server, node = await started_server()
    yield server, node
    await server.close()


async def start_push(port: int, streamid: str, seconds: float = 2) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-f",
        "mpegts",
        f"srt://127.0.0.1:{port}?streamid={streamid}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def push(port: int, streamid: str, seconds: float = 2) -> tuple[int, str]:
    process = await start_push(port, streamid, seconds)
    _, errors = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode, errors.decode(errors="replace")


def srt_threads() -> list[threading.Thread]:
    """The listener's own threads (srt-accept, srt-read-<socket>) still alive in this process."""
    return [t for t in threading.enumerate() if t.name.startswith("srt-") and t.is_alive()]


def libsrt_threads() -> list[str]:
    """libsrt's own threads in this process (SRT:RcvQ:w1, SRT:SndQ:w1, SRT:GC), by kernel name."""
    names = []
    for comm in Path("/proc/self/task").glob("*/comm"):
        try:
            names.append(comm.read_text().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return [name for name in names if name.startswith("SRT:")]


def receive_queue_running() -> bool:
    return any(name.startswith("SRT:RcvQ") for name in libsrt_threads())


def port_free(port: int) -> bool:
    """Nobody holds the UDP port (our socket set SO_REUSEADDR; this one does not)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def send_datagrams(port: int, *payloads: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for payload in payloads:
            sender.sendto(payload, ("127.0.0.1", port))


async def eventually(check, timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def publishing(server: SrtServer, node: Node) -> tuple[asyncio.subprocess.Process, Sink]:
    """A long push whose bytes are reaching its sink."""
    process = await start_push(server.port, "in/7/token", seconds=60)
    await eventually(lambda: node.sinks and len(node.sinks[0].data) > 0, what="data in the sink")
    return process, node.sinks[0]


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
    await process.wait()


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


async def test_a_failing_vet_is_a_refusal_and_the_listener_goes_on(listener):
    server, node = listener
    node.vet_fails = True
    code, _ = await push(server.port, "in/7/token", seconds=1)
    assert code != 0 and node.sinks == []
    node.vet_fails = False
    code, errors = await push(server.port, "in/7/token", seconds=1)
    assert code == 0, errors


SILENT_CALLER = (
    "import sys, time; from ingest.pull.srt import SrtCaller; SrtCaller(sys.argv[1], 10, 60); time.sleep(60)"
)


async def test_a_caller_that_sends_nothing_is_closed():
    node = Node()
    server = SrtServer(node.vet, node.authorize, publish_timeout=0.5)
    await server.start("127.0.0.1", free_port(socket.SOCK_DGRAM))
    url = f"srt://127.0.0.1:{server.port}?streamid=in/7/token"
    caller = await asyncio.create_subprocess_exec(sys.executable, "-c", SILENT_CALLER, url)  # libsrt of its own
    try:
        await eventually(lambda: node.sinks and node.sinks[0].closed.is_set(), what="the silent caller closed")
    finally:
        await stop(caller)
        await server.close()


async def test_callers_are_vetted_while_the_event_loop_is_busy(listener):
    """The listen callback holds libsrt's receive thread, which every SRT stream shares: it
    answers from memory and never waits on the loop (blocked here for the second push)."""
    server, node = listener
    first, _ = await publishing(server, node)  # libsrt holds the port now (the loop lends it)
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi"]
    command += ["-i", "testsrc2=size=160x120:rate=25", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast"]
    command += ["-f", "mpegts", f"srt://127.0.0.1:{server.port}?streamid=in/7/token"]
    pushed = subprocess.run(command, capture_output=True, timeout=30)  # noqa: ASYNC221 (blocks the loop on purpose)
    await stop(first)
    assert pushed.returncode == 0, pushed.stderr.decode(errors="replace")  # accepted, all sent


async def test_sink_refusal_closes_the_connection(listener):
    server, node = listener
    node.refuse_after = 20_000
    code, _ = await push(server.port, "in/7/token", seconds=10)
    assert code != 0  # the caller saw its connection end
    await asyncio.wait_for(node.sinks[0].closed.wait(), 10)


async def test_kicked_publishers_reader_thread_ends(listener):
    server, node = listener
    process, sink = await publishing(server, node)
    try:
        assert len(server.reader_threads()) == 1
        node.sinks[0].refuse_after = 0  # the next write raises: the node kicks the publisher
        await asyncio.wait_for(sink.closed.wait(), 10)
        assert sink.reasons == ["closed by the node"]
        await eventually(lambda: not server.reader_threads(), what="the reader thread to end")
        # (the thread leaves the server's table a moment before it returns)
        await eventually(
            lambda: not any(t.name.startswith("srt-read") for t in srt_threads()), what="the reader thread to return"
        )
        assert await asyncio.wait_for(process.wait(), 20) != 0  # the caller saw its connection end
    finally:
        await stop(process)


async def test_vanished_publishers_reader_thread_ends(listener):
    server, node = listener
    process, sink = await publishing(server, node)
    process.send_signal(signal.SIGKILL)  # no shutdown message: libsrt notices the silence
    await process.wait()
    await asyncio.wait_for(sink.closed.wait(), 20)
    assert sink.reasons[0].startswith("connection ended")
    await eventually(lambda: not server.reader_threads(), what="the reader thread to end")


async def test_quick_connects_and_refusals_leave_no_reader_behind(listener):
    server, node = listener
    results = await asyncio.gather(
        *(push(server.port, streamid, seconds=1) for streamid in ("in/7/nope", "in/8/token", "x", "in/7/token") * 2)
    )
    assert sum(1 for code, _ in results if code == 0) >= 1
    await eventually(lambda: not server.reader_threads(), what="every reader thread to end")
    assert all(sink.request.name == "7" for sink in node.sinks)


async def test_close_while_idle_does_not_hang():
    server, _ = await started_server()
    await asyncio.wait_for(server.close(), 10)  # how long it takes: bench/wakeup_latency.py
    assert srt_threads() == [] and libsrt_threads() == []
    assert port_free(server.port)


async def test_close_while_libsrt_holds_the_port_ends_its_threads():
    server, _ = await started_server()
    send_datagrams(server.port, b"garbage")
    await eventually(receive_queue_running, what="libsrt to take the port")
    await asyncio.wait_for(server.close(), 10)
    assert srt_threads() == [] and libsrt_threads() == []
    assert port_free(server.port)


async def test_close_with_a_publisher_connected_does_not_hang():
    server, node = await started_server()
    process, sink = await publishing(server, node)
    try:
        await asyncio.wait_for(server.close(), 10)  # how long it takes: bench/wakeup_latency.py
        assert sink.closed.is_set() and sink.reasons == ["server shutting down"]
        assert srt_threads() == [] and libsrt_threads() == []
        assert port_free(server.port)
    finally:
        await stop(process)


async def test_the_port_is_taken_at_start():
    server, _ = await started_server()
    try:
        assert not port_free(server.port)
    finally:
        await server.close()


async def test_libsrt_runs_only_while_callers_are_around(lingering):
    server, node = lingering
    await asyncio.sleep(0.5)
    assert not receive_queue_running()
    code, errors = await push(server.port, "in/7/token")
    assert code == 0, errors  # the first caller connects at its first try
    await asyncio.wait_for(node.sinks[0].closed.wait(), 10)
    assert len(node.sinks[0].data) > 10_000
    await eventually(lambda: libsrt_threads() == [], what="libsrt to let go of the port")
    code, errors = await push(server.port, "in/7/token", seconds=1)
    assert code == 0, errors
    await asyncio.wait_for(node.sinks[1].closed.wait(), 10)
    assert len(node.sinks[1].data) > 0
    await eventually(lambda: libsrt_threads() == [], what="libsrt to let go of the port again")


async def test_libsrt_keeps_the_port_while_a_caller_publishes(lingering):
    server, node = lingering
    process, sink = await publishing(server, node)
    try:
        await asyncio.sleep(3 * srt_port.LINGER)
        assert receive_queue_running()
        size = len(sink.data)
        await eventually(lambda: len(sink.data) > size, what="more data")
        assert not sink.closed.is_set()
    finally:
        await stop(process)


async def test_garbage_datagrams_leave_the_port_working(lingering):
    server, node = lingering
    control = bytes([0x80, 0x00, 0x00, 0x00]) + bytes(12)  # an SRT handshake header, nothing after it
    send_datagrams(server.port, b"", b"x", control, bytes(range(256)) * 5)
    await eventually(receive_queue_running, what="libsrt to take the port")
    await eventually(lambda: libsrt_threads() == [], what="libsrt to let go of the port")
    code, errors = await push(server.port, "in/7/token", seconds=1)
    assert code == 0, errors
    await asyncio.wait_for(node.sinks[0].closed.wait(), 10)
    assert len(node.sinks[0].data) > 0
