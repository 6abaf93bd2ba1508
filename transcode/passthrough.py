"""Packaging the original as it arrives (the "origin" variant): CMAF/LL-HLS/DASH and TS.

No decoding: packets go straight into the stream's outputs. The origin leads the segmenting:
its segments start at the source keyframes the shared `KeyframePlan` picks, and the
transcoded renditions put their IDR frames on those same frames. The source's audio is muxed
here once for every variant. After a source switch the new source's video is the origin
(the outputs start a new init segment for it).

With html_overlay the origin is encoded from the composited picture (the transcoder's), and
the source's video goes into the unlisted `SOURCE` track instead (what a `record_type=origin`
recording records); it still leads the segmenting.

A source whose H.264 changes picture format mid-stream (a new SPS: another size, profile or
level) is told at its keyframe (`VideoFormatWatch`): that keyframe starts a segment in every
variant, and the outputs start a new init generation (`StreamOutputs.format_changed`).
"""

from __future__ import annotations

import logging

import av

from packager.parameter_sets import VideoFormatWatch
from transcode.keyframes import KeyframePlan
from transcode.outputs import SOURCE, StreamOutputs

ORIGIN = "origin"

log = logging.getLogger("headwater.worker")


class PassthroughJob:
    def __init__(
        self,
        outputs: StreamOutputs,
        plan: KeyframePlan,
        video: av.video.stream.VideoStream | None,
        *,
        video_output: str = ORIGIN,
    ) -> None:
        """`video_output`: the output the source's video goes to, the origin variant, or
        `SOURCE` when the transcoder encodes the origin (html_overlay)."""
        self.outputs = outputs
        self.video_output = video_output
        self.plan = plan
        self.video = video
        self.watch = _watch(video)

    @property
    def size(self) -> tuple[int, int] | None:
        """The origin's picture size as its last SPS says (None if unknown or not H.264)."""
        return self.watch.size if self.watch is not None else None

    def on_source_change(self, video, audio) -> None:
        """Route the new source's video; a stream that started without video stays without."""
        self.video = video if self.video is not None else None
        self.watch = _watch(self.video)

    def on_packet(self, packet: av.Packet) -> None:
        seconds = _pts_seconds(packet)
        if packet.stream.type == "video":
            if self.video is None or packet.stream.index != self.video.index:
                return
            if self.watch is not None:
                self._check_format(packet)
            start = (
                self.plan.on_source_packet(packet.pts, seconds, packet.is_keyframe) if packet.pts is not None else False
            )
            if self.video_output == SOURCE:
                self.outputs.mux_source(packet)
            else:
                self.outputs.mux_video(ORIGIN, packet, segment_start=start)
        elif packet.stream.type == "audio":
            start = self.plan.on_source_packet(packet.pts, seconds, True) if self.video is None else False
            self.outputs.mux_audio(packet, segment_start=start)

    def _check_format(self, packet: av.Packet) -> None:
        changed = self.watch.check(packet)
        if changed is None:
            return
        sps = changed.sps
        log.info(
            "source video changed to %dx%d (%s) at %.3f s: new init segment, discontinuity",
            sps.width,
            sps.height,
            sps.codec,
            _pts_seconds(packet),
        )
        self.plan.reset()  # this keyframe starts a segment in every variant
        self.outputs.format_changed(self.video_output, sps.width, sps.height, changed.extradata)

    def close(self) -> None:
        pass


def _watch(video: av.video.stream.VideoStream | None) -> VideoFormatWatch | None:
    """Only H.264 is followed (its SPS is parsed here); other codecs pass through as they are."""
    if video is None or video.codec_context.name != "h264":
        return None
    return VideoFormatWatch(bytes(video.codec_context.extradata or b""))


def _pts_seconds(packet: av.Packet) -> float:
    """pts in seconds (0 without one); int / int, cheaper than float(pts × Fraction), same value."""
    if packet.pts is None:
        return 0.0
    time_base = packet.time_base
    return packet.pts * time_base.numerator / time_base.denominator
