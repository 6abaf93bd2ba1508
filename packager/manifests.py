"""Glue between the tracks' state and the pure playlist/MPD writers (`hls`, `dash`).

Here live the choices that need the tracks' runtime state: which parts a playlist lists, the
preload hint, rendition reports, master bandwidths (configured, else measured on the first
segments) and the codec strings read from the init segments.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from packager import dash, hls
from packager.playlist_text import PlaylistUpdate

if TYPE_CHECKING:
    from packager.isobmff import TrackInfo
    from packager.live import PackagerConfig
    from packager.track import TrackOutput
    from packager.window import Segment

MASTER_MEASURED_SEGMENTS = 3


def media_playlist_update(
    output: TrackOutput, others: Iterable[TrackOutput], part_target: float, ended: bool, settled_msn: int
) -> PlaylistUpdate:
    """The track's playlist as an update over the entries sent so far (those up to
    `settled_msn`): the segments settled since, and the tail. Walks only the segments after
    `settled_msn` (the last few, once the window is listed)."""
    window = output.window
    segments = window.segments
    target = max(output.target_duration, 1)
    parts_from = window.parts_listed_from(target)
    start = len(segments)
    while start > 0 and segments[start - 1].msn > settled_msn:
        start -= 1
    settled = start
    if not ended:
        while settled < len(segments) and segments[settled].complete and segments[settled].msn < parts_from:
            settled += 1
    tail = segments[settled:]
    return PlaylistUpdate(
        header=hls.playlist_header(
            target_duration=target,
            part_target=part_target,
            first_msn=segments[0].msn if segments else 0,
            discontinuity_sequence=window.discontinuity_sequence,
            can_skip_until=0.0 if ended else can_skip_until(output, target),
        ),
        first_msn=segments[0].msn if segments else 0,
        entries=[hls.entry(segment, output.name) for segment in segments[start:settled]],
        tail=hls.playlist_tail(
            tail,
            playlist_dir=output.name,
            previous_map=hls.map_uri(segments[settled - 1], output.name) if settled else None,
            parts_from_msn=parts_from,
            preload_hint=None if ended else output.next_part_path(),
            ended=ended,
            rendition_reports=[] if ended else _rendition_reports(output, others),
        ),
        tail_duration=sum(segment.duration for segment in tail if segment.complete),
        can_skip_until=0.0 if ended else can_skip_until(output, target),
    )


def can_skip_until(output: TrackOutput, target: int) -> float:
    """CAN-SKIP-UNTIL for a window long enough that delta updates save something: a DVR
    window, or a live window of at least twice the skip boundary; else 0 (not offered)."""
    span = output.window.span
    if span.dvr_seconds is None and span.live_segments < 2 * hls.SKIP_TARGET_DURATIONS:
        return 0.0
    return float(hls.SKIP_TARGET_DURATIONS * target)


def _rendition_reports(output: TrackOutput, others: Iterable[TrackOutput]) -> list[hls.RenditionReport]:
    reports = []
    for other in others:
        last = other.window.last_part
        if last is not None:
            uri = _sibling_playlist_uri(other.name, output.name)
            reports.append(hls.RenditionReport(uri, last.msn, last.index))
    return reports


def _sibling_playlist_uri(rendition: str, playlist_dir: str) -> str:
    """Another rendition's playlist relative to this one's directory (relpath costs a
    getcwd and more per call; rendition names are single directory names)."""
    if "/" in rendition or "/" in playlist_dir:
        return posixpath.relpath(f"{rendition}/index.m3u8", playlist_dir)
    return f"../{rendition}/index.m3u8"


def master_ready(tracks: Iterable[TrackOutput]) -> bool:
    """Codecs are known once every track has its init segment and a first part; players may
    load the master once every media playlist lists a complete segment: hls.js takes a
    first media playlist of parts only for a dead level (fatal `levelEmptyError`), and no
    player can start from parts alone anyway."""
    return all(t.info is not None and any(s.complete for s in t.window.segments) for t in tracks)


def master_playlist(tracks: Iterable[TrackOutput]) -> str:
    tracks = list(tracks)
    audio = next((t for t in tracks if not t.is_video), None)
    audio_peak, audio_average = audio.bandwidths() if audio else (0, 0)
    variants = []
    for video in (t for t in tracks if t.is_video):
        peak, average = video.bandwidths()
        codecs = track_info(video).codec + (f",{track_info(audio).codec}" if audio else "")
        width, height = video_size(video)
        variants.append(
            hls.Variant(
                uri=f"{video.name}/index.m3u8",
                bandwidth=peak + audio_peak,
                average_bandwidth=average + audio_average,
                width=width,
                height=height,
                codecs=codecs,
                frame_rate=frame_rate(video),
            )
        )
    if not variants and audio is not None:  # audio-only stream: the audio playlist is the variant
        return hls.master_playlist(
            [
                hls.Variant(
                    uri=f"{audio.name}/index.m3u8",
                    bandwidth=audio_peak,
                    average_bandwidth=audio_average,
                    width=None,
                    height=None,
                    codecs=track_info(audio).codec,
                    frame_rate=None,
                )
            ],
            None,
        )
    rendition = hls.AudioRendition(f"{audio.name}/index.m3u8", channels(audio)) if audio else None
    return hls.master_playlist(variants, rendition)


def mpd(
    tracks: Iterable[TrackOutput],
    config: PackagerConfig,
    *,
    availability_start: float,
    publish_time: float,
    stream_start: float,
    periods: dict[str, dash.PeriodClock],
    ended: bool,
) -> str:
    tracks = list(tracks)
    representations = []
    for track in tracks:
        complete = [s for s in track.window.segments if s.complete]
        peak, _ = track.bandwidths()
        width, height = video_size(track) if track.is_video else (None, None)
        rate = frame_rate(track) if track.is_video else None
        representations.append(
            dash.Representation(
                id=track.name,
                content_type=track.kind,
                codecs=track_info(track).codec,
                bandwidth=peak,
                timescale=track_info(track).timescale,
                segments=complete,
                width=width,
                height=height,
                frame_rate=f"{rate:g}" if rate else None,
                sample_rate=None if track.is_video else sample_rate(track),
                channels=None if track.is_video else channel_configuration(track),
                per_init=formats_by_init(track, complete),
            )
        )
    longest = max(t.window.max_segment_duration for t in tracks)
    end = max((s.start + s.ticks) / s.timescale for t in tracks for s in t.window.segments if s.complete)
    presentation = dash.Presentation(
        availability_start=availability_start,
        publish_time=publish_time,
        presentation_offset=stream_start,
        segment_target=config.segment_target,
        part_target=config.part_target,
        max_segment_duration=longest,
        time_shift_buffer_depth=time_shift_buffer_depth(config),
        suggested_presentation_delay=live_delay(config),
        target_latency=live_delay(config),
        utc_timing_url=config.utc_timing_url,
        periods=periods,
        ended=ended,
        media_duration=end - stream_start,
    )
    return dash.mpd(presentation, representations)


def time_shift_buffer_depth(config: PackagerConfig) -> float:
    """What the MPD promises a player can seek back: the DVR window, else the short live one."""
    span = config.span
    return span.dvr_seconds if span.dvr_seconds else span.live_segments * config.segment_target


def live_delay(config: PackagerConfig) -> float:
    """How far behind the live edge a DASH player should play: a segment is listed once
    complete (see `dash`), the player sees it at its next MPD refresh (every part), then
    fetches it. Closer, players stall at each segment (dash.js 5: 6 stalls in 30 s at
    segment + 1 part, 1 at segment + 2 parts)."""
    return config.segment_target + 2 * config.part_target


def formats_by_init(track: TrackOutput, segments: Sequence[Segment]) -> dict[str, dash.InitFormat]:
    """Codecs and size of each init segment the listed segments use (a source that changed
    format mid-stream has had more than one; each is its own Period's)."""
    formats: dict[str, dash.InitFormat] = {}
    for init_path in {s.init_path for s in segments}:
        known = track.formats.get(init_path)
        if known is not None:
            codec, width, height = known
            formats[posixpath.basename(init_path)] = (
                {"codecs": codec, "width": width, "height": height} if track.is_video else {"codecs": codec}
            )
    return formats


def track_info(track: TrackOutput) -> TrackInfo:
    """The track's init segment facts; manifests list only tracks that have one (`tracks_ready`)."""
    if track.info is None:
        raise ValueError(f"track {track.name} has no init segment yet")
    return track.info


def video_size(track: TrackOutput) -> tuple[int, int]:
    return track.stream_template.width or 0, track.stream_template.height or 0


def frame_rate(track: TrackOutput) -> float | None:
    """The stream's average frame rate, else the rate measured on the published parts."""
    rate = track.stream_template.frame_rate
    if rate:
        return float(rate)
    if track.total_seconds:
        return round(track.total_samples / track.total_seconds, 3)
    return None


def sample_rate(track: TrackOutput) -> int | None:
    """AAC: its AudioSpecificConfig's (a container's header may say 44100 whatever it is)."""
    return track_info(track).sample_rate or track.stream_template.sample_rate


def channels(track: TrackOutput) -> int | None:
    """How many channels (HLS CHANNELS): AAC's from its AudioSpecificConfig, as `sample_rate`."""
    aac = track.info.aac if track.info else None
    if aac is not None and aac.channels:
        return aac.channel_count
    return track.stream_template.channels


def channel_configuration(track: TrackOutput) -> int | None:
    """The MPEG channel configuration DASH signals (ISO/IEC 23091-3; 1 = mono, 2 = stereo)."""
    aac = track.info.aac if track.info else None
    if aac is not None and aac.channels:
        return aac.channels
    return track.stream_template.channels
