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
