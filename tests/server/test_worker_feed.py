"""WorkerProcess.feed: what one turn of the event loop feeds goes to the worker in one write."""

from __future__ import annotations

import asyncio

from server.media.worker_process import WorkerProcess


class FakeStdin:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.transport = self

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True


class FakeProcess:
    returncode = None

    def __init__(self) -> None:
        self.stdin = FakeStdin()


def started_worker() -> WorkerProcess:
    worker = WorkerProcess(1, lambda event: None)
    worker.pending = None
    worker.process = FakeProcess()
    return worker


AUDIO, VIDEO_1, VIDEO_2 = b"\x08audio", b"\x09video-1", b"\x09video-2"


def test_one_turn_of_the_loop_is_one_write():
    async def run():
        worker = started_worker()
        assert worker.feed(AUDIO) and worker.feed(VIDEO_1)
        assert worker.process.stdin.writes == []  # not yet: the turn is not over
        await asyncio.sleep(0)
        assert worker.feed(VIDEO_2)
        await asyncio.sleep(0)
        return worker.process.stdin.writes

    assert asyncio.run(run()) == [AUDIO + VIDEO_1, VIDEO_2]


def test_finish_writes_what_is_queued_before_closing():
    async def run():
        worker = started_worker()
        worker.feed(AUDIO)
        worker.finish()
        await asyncio.sleep(0)
        return worker.process.stdin.writes, worker.process.stdin.closed

    assert asyncio.run(run()) == ([AUDIO], True)


def test_a_killed_worker_gets_nothing_more():
    async def run():
        worker = started_worker()
        worker.feed(AUDIO)
        worker.process.returncode = -9
        await asyncio.sleep(0)
        return worker.process.stdin.writes, worker.feed(VIDEO_1)

    assert asyncio.run(run()) == ([], False)


def test_bytes_held_for_a_worker_waiting_its_turn_are_capped(monkeypatch):
    """Past MAX_PENDING_BYTES the waiting worker is cancelled: it holds nothing more and is
    never spawned, so a stream that waits on a finishing predecessor cannot eat the memory."""
    from server.media import worker_process

    monkeypatch.setattr(worker_process, "MAX_PENDING_BYTES", 10)

    async def spawn(*args, **kwargs):
        raise AssertionError("a cancelled worker was spawned")

    monkeypatch.setattr(worker_process.asyncio, "create_subprocess_exec", spawn)

    async def run():
        worker = WorkerProcess(1, lambda event: None)
        held = worker.feed(b"123456")
        over = worker.feed(b"789012")
        await worker.start({})
        return held, over, worker.feed(b"x"), worker.pending_bytes, await worker.wait()

    assert asyncio.run(run()) == (True, False, False, 0, worker_process.NEVER_STARTED)
