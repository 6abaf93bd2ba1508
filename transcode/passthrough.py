"""Packaging the original as it arrives (the "origin" variant): CMAF/LL-HLS/DASH and TS.

No decoding: packets go straight into the stream's outputs. The origin leads the segmenting:
its segments start at the source keyframes the shared `KeyframePlan` picks, and the
transcoded renditions put their IDR frames on those same frames. The source's audio is muxed
here once for every variant. After a source switch the new source's video is the origin
(the outputs start a new init segment for it).
"""

from __future__ import annotations

import av

from transcode.keyframes import KeyframePlan
from transcode.outputs import StreamOutputs

ORIGIN = "origin"


class PassthroughJob:
    def __init__(self, outputs: StreamOutputs, plan: KeyframePlan,
                 video: av.video.stream.VideoStream | None) -> None:
        self.outputs = outputs
        self.plan = plan
        self.video = video

    def on_source_change(self, video, audio) -> None:
        """Route the new source's video; a stream that started without video stays without."""
        self.video = video if self.video is not None else None

    def on_packet(self, packet: av.Packet) -> None:
        seconds = _pts_seconds(packet)
        if packet.stream.type == "video":
            if self.video is None or packet.stream.index != self.video.index:
                return
            start = self.plan.on_source_packet(packet.pts, seconds, packet.is_keyframe) \
                if packet.pts is not None else False
            self.outputs.mux_video(ORIGIN, packet, segment_start=start)
        elif packet.stream.type == "audio":
            start = self.plan.on_source_packet(packet.pts, seconds, True) if self.video is None else False
            self.outputs.mux_audio(packet, segment_start=start)

    def close(self) -> None:
        pass


def _pts_seconds(packet: av.Packet) -> float:
    """pts in seconds (0 without one); int / int, cheaper than float(pts × Fraction), same value."""
    if packet.pts is None:
        return 0.0
    time_base = packet.time_base
    return packet.pts * time_base.numerator / time_base.denominator
