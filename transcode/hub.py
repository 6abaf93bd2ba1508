"""The one hub of a stream inside its worker: the source publishes, jobs subscribe.

Packagers, and later the recorder, DVR and screenshots, each subscribe here; adding a job
never touches the source.
"""

from __future__ import annotations

from typing import Protocol

import av


class PacketJob(Protocol):
    def on_packet(self, packet: av.Packet) -> None: ...

    def close(self) -> None: ...


class StreamHub:
    def __init__(self) -> None:
        self.jobs: list[PacketJob] = []

    def subscribe(self, job: PacketJob) -> None:
        self.jobs.append(job)

    def publish(self, packet: av.Packet) -> None:
        for job in self.jobs:
            job.on_packet(packet)

    def close(self) -> None:
        for job in reversed(self.jobs):
            job.close()
