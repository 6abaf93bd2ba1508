"""The node↔worker contract end to end: a command and an event that only this test defines
(tests/media/contract_probe.py) cross the real pipes between a real WorkerProcess and a real
worker process, through the one dispatch on each side."""

from __future__ import annotations

from pathlib import Path

from server.media import worker_events
from server.media.succession import Succession
from server.media.worker_events import WorkerEvents
from server.media.worker_process import WorkerProcess
from tests.media.contract_probe import Ping, Pong
from transcode.contract import WorkerConfig


class StandInSupervisor:
    """What WorkerEvents uses of the supervisor: the stream's succession."""

    def __init__(self, directory: Path) -> None:
        self.successions: dict[int, Succession] = {}
        self.directory = directory

    def succession(self, stream_id: int) -> Succession:
        return self.successions.setdefault(stream_id, Succession(stream_id, self.directory / str(stream_id)))


async def test_a_command_and_an_event_defined_in_a_test_cross_the_real_pipes(tmp_path, monkeypatch):
    received: list[Pong] = []
    monkeypatch.setitem(worker_events.HANDLERS, Pong, lambda events, pong: received.append(pong))
    events = WorkerEvents(StandInSupervisor(tmp_path), 5)
    worker = WorkerProcess(5, events, module="tests.media.contract_probe")
    worker.send(Ping(text="headwater"))  # before the spawn: it follows the config
    await worker.start(WorkerConfig(stream_id=5, out_dir=str(tmp_path / "5")))
    worker.send(Ping(text="node"))
    worker.finish()
    assert await worker.wait() == 0
    assert received == [Pong(text="retawdaeh", count=9, stream_id=5), Pong(text="edon", count=4, stream_id=5)]
