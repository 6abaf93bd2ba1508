"""The one hub of a stream inside its worker: the source publishes, jobs subscribe.

Packagers, and later the recorder, DVR and screenshots, each subscribe here; adding a job
never touches the source. When the node switches the worker to another publisher (main ↔
backup), `source_changed` tells every job the new input's streams before its first packet.
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

    def source_changed(
        self, video: av.video.stream.VideoStream | None, audio: av.audio.stream.AudioStream | None
    ) -> None:
        """A new input follows (its timestamps and codec parameters may differ). Jobs that
        keep per-source state implement `on_source_change(video, audio)`."""
        for job in self.jobs:
            handler = getattr(job, "on_source_change", None)
            if handler is not None:
                handler(video, audio)

    def close(self) -> None:
        for job in reversed(self.jobs):
            job.close()
