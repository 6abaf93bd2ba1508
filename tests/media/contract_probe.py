"""A stream worker with one command and one event more than the contract's, both defined here:
`python -m tests.media.contract_probe` is `python -m transcode.worker` plus these, as a
feature adds its own (tests/media/test_worker_contract.py runs it under a real WorkerProcess)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

from transcode.commands import WorkerContext, handles
from transcode.contract import Command, Event, command, event
from transcode.worker import main


@command
@dataclass(frozen=True)
class Ping(Command):
    kind: ClassVar[str] = "test_ping"
    text: str


@event
@dataclass
class Pong(Event):
    kind: ClassVar[str] = "test_pong"
    text: str
    count: int
    stream_id: int


@handles(Ping)
def answer_ping(ping: Ping, worker: WorkerContext) -> None:
    worker.emit(Pong(text=ping.text[::-1], count=len(ping.text), stream_id=worker.config.stream_id))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
