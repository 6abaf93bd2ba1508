"""WorkerProcess.feed: audio tags go out with the next video tag, or after a short hold."""

from __future__ import annotations

import asyncio

from server.media.worker_process import AUDIO_HOLD_SECONDS, WorkerProcess


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
    worker = WorkerProcess(1, {}, lambda event: None)
    worker.pending = None
    worker.process = FakeProcess()
    return worker


AUDIO_1, AUDIO_2, VIDEO = b"\x08audio-1", b"\x08audio-2", b"\x09video"


def test_audio_rides_with_the_next_video_tag():
    async def run():
        worker = started_worker()
        assert worker.feed(AUDIO_1, hold=True) and worker.feed(AUDIO_2, hold=True)
        assert worker.process.stdin.writes == []
        assert worker.feed(VIDEO)
        await asyncio.sleep(2 * AUDIO_HOLD_SECONDS)  # the hold timer was cancelled
        return worker.process.stdin.writes

    assert asyncio.run(run()) == [AUDIO_1 + AUDIO_2 + VIDEO]


def test_audio_without_video_goes_out_after_the_hold_and_before_the_end():
    async def run():
        worker = started_worker()
        worker.feed(AUDIO_1, hold=True)
        await asyncio.sleep(2 * AUDIO_HOLD_SECONDS)
        worker.feed(AUDIO_2, hold=True)
        worker.finish()
        return worker.process.stdin.writes, worker.process.stdin.closed

    assert asyncio.run(run()) == ([AUDIO_1, AUDIO_2], True)


def test_pushed_audio_is_held_once_framed_as_a_worker_record():
    """What the stream session sends: records, audio marked by the session, not by its bytes."""
    from ingest.media import AUDIO, VIDEO as VIDEO_KIND, MediaMessage
    from server.media.session import StreamSession

    held = []

    class Recorder:
        def feed(self, data: bytes, *, hold: bool = False) -> bool:
            held.append(hold)
            return True

    session = StreamSession.__new__(StreamSession)
    session.worker = Recorder()
    session.gave_up, session.target = False, None

    class Feed:
        def bytes_for(self, message):
            return message.payload

    publisher = type("P", (), {"feed": Feed()})()
    session.active = publisher
    session.on_data(publisher, MediaMessage(AUDIO, 0, b"a"))
    session.on_data(publisher, MediaMessage(VIDEO_KIND, 0, b"v"))
    assert held == [True, False]
