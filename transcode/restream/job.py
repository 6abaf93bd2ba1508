"""The worker's restreams: a job of the stream's hub that hands every origin packet to each
running target (`RestreamTarget`, a thread each), started and stopped by the node's commands
(`StartRestream`, `StopRestream`).

It lives in the `WorkerContext`, so a restream may start before the source's first packet
(the node sends a new worker its restreams first); it subscribes to the hub when the pipeline
starts (`attach`) and follows each source switch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import av

from packager.cmaf import StreamTemplate
from transcode.contract import Event, StartRestream
from transcode.restream.target import MediaPacket, RestreamTarget, SourceTemplates

log = logging.getLogger("headwater.restream")

JOIN_TIMEOUT = 3.0  # seconds the targets may take to send what they hold when the stream ends


class Restreams:
    def __init__(self, send: Callable[[Event], None]) -> None:
        self.send = send
        self.targets: dict[int, RestreamTarget] = {}
        self.source: SourceTemplates | None = None

    def start(self, command: StartRestream) -> None:
        """Start forwarding (a restream that runs is replaced: its URI or audio changed)."""
        self.stop(command.restream_id)
        target = self.targets[command.restream_id] = RestreamTarget(command, self.send, self.source)
        target.start()

    def stop(self, restream_id: int) -> None:
        target = self.targets.pop(restream_id, None)
        if target is not None:
            target.stop()

    def attach(self, video: av.video.stream.VideoStream | None, audio: av.audio.stream.AudioStream | None) -> None:
        """The pipeline's (first or next) source: what targets connect with."""
        self.source = SourceTemplates(
            StreamTemplate(video) if video is not None else None, StreamTemplate(audio) if audio is not None else None
        )
        for target in self.targets.values():
            target.source_changed(self.source)

    # -- the hub's job ---------------------------------------------------------------------------
    def on_packet(self, packet: av.Packet) -> None:
        if not self.targets:
            return
        kind = packet.stream.type
        if kind not in ("video", "audio") or packet.dts is None:
            return
        copy = MediaPacket(bytes(packet), packet.pts, packet.dts, packet.time_base, packet.is_keyframe, kind == "video")
        for target in self.targets.values():
            target.offer(copy)

    def on_source_change(self, video, audio) -> None:
        self.attach(video, audio)

    def close(self) -> None:
        """The stream ends: every target sends what it holds and disconnects (a target that
        takes longer than JOIN_TIMEOUT is cut off)."""
        targets = list(self.targets.values())
        self.targets.clear()
        for target in targets:
            target.finish()
        deadline = time.monotonic() + JOIN_TIMEOUT
        for target in targets:
            target.join(max(0.0, deadline - time.monotonic()))
            if target.is_alive():
                target.stop()
