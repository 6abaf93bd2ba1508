"""One stream's media pipeline inside its worker, whatever feeds it (a pushed FLV/MPEG-TS
input, a pull source, a WHIP peer).

The source's packets go through a `ContinuousTimeline` (jumps taken out) into the hub; the
origin job remuxes them and leads the segmenting (`KeyframePlan`), the transcoder (when the
stream has a quality set) decodes once and encodes every rendition with its IDR frames on the
same source frames, and `StreamOutputs` packages every variant (CMAF/LL-HLS/DASH and TS).

A source switch (main ↔ backup, a pull failover) keeps all of it: every output continues its
playlists after a discontinuity, the encoders go on, sequence numbers keep rising.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from packager.aac import try_parse_audio_specific_config
from transcode.contract import SourceChanged, SourceEvent, Started
from transcode.encoders import detect_h264_encoder
from transcode.hub import StreamHub
from transcode.keyframes import KeyframePlan
from transcode.ladder import PlannedRendition, Rendition, even, plan
from transcode.outputs import SOURCE, StreamOutputs
from transcode.overlay import Compositor
from transcode.passthrough import ORIGIN, PassthroughJob
from transcode.playability import playability_warning
from transcode.screenshots import ScreenshotJob
from transcode.stats import StatsJob
from transcode.timeline import ContinuousTimeline
from transcode.transcoder import TranscodeJob

GOLDEN_RATIO = 0.6180339887  # stream ids spread evenly over an interval by this fraction

log = logging.getLogger("headwater.worker")

ORIGIN_KBITS_1080P = 6000  # the re-encoded origin's bitrate when the source does not tell its own


class StreamPipeline:
    def __init__(
        self,
        config,
        video,
        audio,
        emit: Callable[[dict], None],
        clock: Callable[[], float] = time.monotonic,
        compositor: Compositor | None = None,
    ) -> None:
        self.stream_id = config.stream_id
        self.keyframes = KeyframePlan(config.segment_target)
        self.outputs = StreamOutputs(config.packager(), emit, mpegts_endlist=config.mpegts_endlist)
        self.hub = StreamHub()
        self.timeline = ContinuousTimeline()
        # html_overlay: the origin too is encoded, from the composited picture
        self.overlay_warning = overlay_warning(video) if config.overlays else None
        if self.overlay_warning:
            log.warning("stream %s: %s", self.stream_id, self.overlay_warning)
        overlaid = compositor if config.overlays and video is not None and not self.overlay_warning else None
        # the output the source's video goes to: the origin, or beside an encoded one the
        # unlisted track a record_type=origin recording records (first: it leads the segmenting)
        self.source_output = ORIGIN if overlaid is None else SOURCE
        if video is not None and overlaid is None:
            self.outputs.add_video(ORIGIN, video, resolution=source_size(video), frame_rate=source_rate(video))
        elif video is not None:
            self.outputs.add_source(video)
        passthrough = PassthroughJob(self.outputs, self.keyframes, video, video_output=self.source_output)
        self.hub.subscribe(passthrough)
        self.transcoder = start_transcoder(config, video, self.outputs, self.keyframes, emit, clock, overlaid)
        if self.transcoder is not None:
            self.hub.subscribe(self.transcoder)
        if audio is not None:
            self.outputs.add_audio(audio)
        progress = self.transcoder.media_seconds if self.transcoder else None
        self.hub.subscribe(StatsJob(video, emit, progress=progress, size=lambda: passthrough.size))
        if video is not None and config.screenshot_file:
            self.hub.subscribe(
                ScreenshotJob(
                    video,
                    Path(config.screenshot_file),
                    config.screenshot_interval,
                    phase=config.stream_id * GOLDEN_RATIO,
                    later=self.outputs.files.write_made,
                )
            )

    @property
    def renditions(self) -> list[str]:
        transcoded = self.transcoder.renditions if self.transcoder else []
        return [ORIGIN, *(name for name in transcoded if name != ORIGIN)]

    def source_event(self, video, audio, changed: bool = False, **source: str) -> SourceEvent:
        """The event telling the node what this source holds (`Started`, `SourceChanged`
        after a switch; `source` adds a pull's URL and type); a source whose video most
        players cannot decode is also logged, once per source."""
        event = source_event(video, audio, self.renditions, SourceChanged if changed else Started, **source)
        if event.source_warning:
            log.warning("stream %s: %s", self.stream_id, event.source_warning)
        if self.overlay_warning:  # the API's source_warning shows it too
            event.source_warning = " ".join(filter(None, [event.source_warning, self.overlay_warning]))
        return event

    def publish(self, packet) -> None:
        self.timeline.apply(packet)
        self.hub.publish(packet)

    def source_changed(self, video, audio) -> None:
        """Another source follows; call before closing the old one (its decoder drains here)."""
        self.timeline.source_changed()  # the new source continues the old one's timeline
        self.keyframes.reset()
        self.outputs.source_changed({self.source_output: video} if video is not None else {}, audio)
        self.hub.source_changed(video, audio)

    def close(self) -> None:
        try:
            self.hub.close()  # the transcoder drains its encoders into the outputs
        finally:
            self.outputs.close()


def start_transcoder(
    config,
    video,
    outputs: StreamOutputs,
    keyframes: KeyframePlan,
    emit: Callable[[dict], None],
    clock: Callable[[], float],
    compositor: Compositor | None = None,
) -> TranscodeJob | None:
    """The transcoder of the quality set's rungs; with a compositor, of the origin too (first,
    so it leads the segmenting), all scaled from the composited picture."""
    ladder = planned_renditions(config, video)
    if compositor is not None:
        ladder = with_composited_origin(ladder, video)
    if not ladder:
        return None
    codec = detect_h264_encoder(config.hardware_encoder)
    log.info(
        "stream %s: transcoding to %s with %s (preset %s)",
        config.stream_id,
        ", ".join(f"{r.name} {r.width}x{r.height}" for r in ladder),
        codec,
        config.x264_preset,
    )
    return TranscodeJob(
        outputs,
        video,
        ladder,
        keyframes,
        codec=codec,
        preset=config.x264_preset,
        emit=emit,
        degrade_after=config.degrade_after,
        clock=clock,
        compositor=compositor,
    )


def overlay_warning(video) -> str | None:
    """Why html_overlay cannot be applied to this source (Gcore's limit: up to 1920×1080), or None."""
    size = source_size(video) if video is not None else None
    if video is not None and size is None:
        return "html_overlay: the source's video size is unknown; overlays not applied"
    if size is not None and not Compositor.applicable(*size):
        return f"html_overlay: the source is {size[0]}x{size[1]}, above 1920x1080; overlays not applied"
    return None


def with_composited_origin(ladder: list[PlannedRendition], video) -> list[PlannedRendition]:
    """html_overlay: the origin first, encoded from the composited picture. A rung of the
    source's size at its full frame rate would be that same picture encoded a second time
    (the encode costs most of a 1080p ladder's overlay price): the origin takes its place, at
    the rung's bitrate, so the variants have one such picture, not two."""
    origin = origin_rendition(video)
    rate = source_rate(video) or 0.0
    for rung in ladder:
        cap = rung.rendition.max_frame_rate
        if (rung.width, rung.height) == (origin.width, origin.height) and (not cap or cap >= rate - 0.01):
            merged = replace(origin.rendition, video_bitrate=rung.rendition.video_bitrate)
            return [PlannedRendition(merged, origin.width, origin.height), *(r for r in ladder if r is not rung)]
    return [origin, *ladder]


def origin_rendition(video) -> PlannedRendition:
    """The origin re-encoded at the source's size (and frame rate), for html_overlay (only
    for a source of known size: `overlay_warning`)."""
    size = source_size(video)
    assert size is not None
    width, height = size
    bitrate = video.codec_context.bit_rate or video.bit_rate or 0
    kbits = bitrate // 1000 if bitrate else max(1000, ORIGIN_KBITS_1080P * width * height // (1920 * 1080))
    rung = Rendition(ORIGIN, width, height, video_bitrate=kbits, max_frame_rate=0.0)
    return PlannedRendition(rung, even(width), even(height))


def planned_renditions(config, video) -> list[PlannedRendition]:
    """The quality set's rungs this source gets (none without video or without a set)."""
    if video is None or not config.renditions:
        return []
    size = source_size(video)
    if size is None:
        log.warning("stream %s: source video size unknown at start; packaging the origin only", config.stream_id)
        return []
    return plan(config.renditions, *size)


def source_size(video) -> tuple[int, int] | None:
    context = video.codec_context
    return (context.width, context.height) if context.width and context.height else None


def source_rate(video) -> float | None:
    return float(video.average_rate) if video.average_rate else None


def source_event(video, audio, renditions: list[str], kind: type[SourceEvent] = Started, **source: str) -> SourceEvent:
    """What the source turned out to hold, reported once demuxing starts (`Started`) and
    after each switch to another source (`SourceChanged`)."""
    event: dict = {
        "renditions": renditions,
        "source_warning": playability_warning(video, transcoded=len(renditions) > 1),
        **source,
    }
    if video is not None:
        context = video.codec_context
        event.update(
            video_codec=context.name, width=context.width, height=context.height, frame_rate=source_rate(video)
        )
    if audio is not None:
        context = audio.codec_context
        sample_rate, channels = context.sample_rate, context.channels
        aac = try_parse_audio_specific_config(bytes(context.extradata or b"")) if context.name == "aac" else None
        if aac is not None:  # FLV's header says 44.1 kHz stereo for any AAC
            sample_rate, channels = aac.sample_rate, aac.channel_count or channels
        event.update(audio_codec=context.name, sample_rate=sample_rate, channels=channels)
    return kind(**event)
