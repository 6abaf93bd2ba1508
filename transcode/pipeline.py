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
from pathlib import Path

from packager.aac import try_parse_audio_specific_config
from transcode.contract import SourceChanged, SourceEvent, Started
from transcode.encoders import detect_h264_encoder
from transcode.hub import StreamHub
from transcode.keyframes import KeyframePlan
from transcode.ladder import PlannedRendition, plan
from transcode.outputs import StreamOutputs
from transcode.passthrough import ORIGIN, PassthroughJob
from transcode.playability import playability_warning
from transcode.screenshots import ScreenshotJob
from transcode.stats import StatsJob
from transcode.timeline import ContinuousTimeline
from transcode.transcoder import TranscodeJob

log = logging.getLogger("headwater.worker")


class StreamPipeline:
    def __init__(
        self, config, video, audio, emit: Callable[[dict], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream_id = config.stream_id
        self.keyframes = KeyframePlan(config.segment_target)
        self.outputs = StreamOutputs(config.packager(), emit, mpegts_endlist=config.mpegts_endlist)
        self.hub = StreamHub()
        self.timeline = ContinuousTimeline()
        if video is not None:
            self.outputs.add_video(ORIGIN, video, resolution=source_size(video), frame_rate=source_rate(video))
        passthrough = PassthroughJob(self.outputs, self.keyframes, video)
        self.hub.subscribe(passthrough)
        self.transcoder = start_transcoder(config, video, self.outputs, self.keyframes, emit, clock)
        if self.transcoder is not None:
            self.hub.subscribe(self.transcoder)
        if audio is not None:
            self.outputs.add_audio(audio)
        progress = self.transcoder.media_seconds if self.transcoder else None
        self.hub.subscribe(StatsJob(video, emit, progress=progress, size=lambda: passthrough.size))
        if video is not None and config.screenshot_file:
            self.hub.subscribe(ScreenshotJob(video, Path(config.screenshot_file), config.screenshot_interval))

    @property
    def renditions(self) -> list[str]:
        return [ORIGIN, *(self.transcoder.renditions if self.transcoder else [])]

    def source_event(self, video, audio, changed: bool = False, **source: str) -> SourceEvent:
        """The event telling the node what this source holds (`Started`, `SourceChanged`
        after a switch; `source` adds a pull's URL and type); a source whose video most
        players cannot decode is also logged, once per source."""
        event = source_event(video, audio, self.renditions, SourceChanged if changed else Started, **source)
        if event.source_warning:
            log.warning("stream %s: %s", self.stream_id, event.source_warning)
        return event

    def publish(self, packet) -> None:
        self.timeline.apply(packet)
        self.hub.publish(packet)

    def source_changed(self, video, audio) -> None:
        """Another source follows; call before closing the old one (its decoder drains here)."""
        self.timeline.source_changed()  # the new source continues the old one's timeline
        self.keyframes.reset()
        self.outputs.source_changed({ORIGIN: video} if video is not None else {}, audio)
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
) -> TranscodeJob | None:
    ladder = planned_renditions(config, video)
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
    )


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
