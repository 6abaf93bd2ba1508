"""A static DASH MPD from a recording: one Period per run of segments sharing an init.

The k-th run of the video track and the k-th run of the audio track make Period k (the
recorder starts a run on every track at once: a new worker, a source switch, a new init).
Periods follow one another with no gap: a Period starts where the one before it ends, so a
publisher's absence is not played as a pause. Segments are listed by name (`SegmentList`
with a `SegmentTimeline`): the recording's file names are its own, not a `$Number$` pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import zip_longest
from xml.sax.saxutils import quoteattr

from packager.dash import CHANNEL_SCHEME, PROFILES, duration
from packager.recording_layout import RecordedSegment, Recording
from packager.vod_tracks import InitFacts, bit_rates, runs


def vod_mpd(recording: Recording, facts: dict[str, InitFacts]) -> str:
    video = runs(recording.tracks.get("video", []))
    audio = runs(recording.tracks.get("audio", []))
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        (
            '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"'
            f' profiles="{PROFILES}"'
            f' mediaPresentationDuration="{duration(_presentation_seconds(video, audio))}" minBufferTime="PT2S"'
            f' maxSegmentDuration="{duration(_longest(recording))}">'
        ),
    ]
    start = 0.0
    for number, (video_run, audio_run) in enumerate(zip_longest(video, audio)):
        lines.append(f'  <Period id="{number}" start="{duration(start)}">')
        if video_run:
            lines.extend(_adaptation_set("video", video_run, facts[video_run[0].init]))
        if audio_run:
            lines.extend(_adaptation_set("audio", audio_run, facts[audio_run[0].init]))
        lines.append("  </Period>")
        start += _seconds(video_run or audio_run)
    lines.append("</MPD>")
    return "\n".join(lines) + "\n"


def _adaptation_set(kind: str, run: Sequence[RecordedSegment], facts: InitFacts) -> list[str]:
    _, average = bit_rates(run)
    representation = f'id="{kind}" codecs="{facts.codec}" bandwidth="{average}"'
    if kind == "video":
        head = '    <AdaptationSet contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">'
        if facts.width and facts.height:
            representation += f' width="{facts.width}" height="{facts.height}"'
    else:
        head = '    <AdaptationSet contentType="audio" mimeType="audio/mp4" segmentAlignment="true" lang="und">'
        if facts.sample_rate:
            representation += f' audioSamplingRate="{facts.sample_rate}"'
    lines = [head, f"      <Representation {representation}>"]
    if kind == "audio" and facts.channel_configuration:
        lines.append(
            f'        <AudioChannelConfiguration schemeIdUri="{CHANNEL_SCHEME}" value="{facts.channel_configuration}"/>'
        )
    first = run[0]
    lines.append(f'        <SegmentList timescale="{facts.timescale}" presentationTimeOffset="{first.start}">')
    lines.append(f"          <Initialization sourceURL={quoteattr(first.init)}/>")
    lines.append("          <SegmentTimeline>")
    lines.extend(_timeline(run))
    lines.append("          </SegmentTimeline>")
    lines.extend(f"          <SegmentURL media={quoteattr(segment.file)}/>" for segment in run)
    lines.append("        </SegmentList>")
    lines.append("      </Representation>")
    lines.append("    </AdaptationSet>")
    return lines


def _timeline(run: Sequence[RecordedSegment]) -> list[str]:
    """One `<S>` per `SegmentURL`, only the first with `t` (the rest follow on). No `r`:
    dash.js 5 takes a repeated `<S>` of a SegmentList for one segment (it played the first
    segment of each Period and ended)."""
    first = f'            <S t="{run[0].start}" d="{run[0].ticks}"/>'
    return [first, *(f'            <S d="{segment.ticks}"/>' for segment in run[1:])]


def _seconds(run: Sequence[RecordedSegment]) -> float:
    return sum(segment.duration for segment in run)


def _presentation_seconds(video: list[list[RecordedSegment]], audio: list[list[RecordedSegment]]) -> float:
    """Up to the end of the last Period's longer track: the Periods before it last as long as
    their video (the next one starts there), the last one until its last sample. Ending at
    the video's end while the audio runs 16 ms on left dash.js 5 stalled 0.5 s before the end
    about one time in eight."""
    periods = list(zip_longest(video, audio))
    earlier = sum(_seconds(video_run or audio_run) for video_run, audio_run in periods[:-1])
    last_video, last_audio = periods[-1] if periods else (None, None)
    return earlier + max(_seconds(last_video or []), _seconds(last_audio or []))


def _longest(recording: Recording) -> float:
    return max((s.duration for segments in recording.tracks.values() for s in segments), default=0.0)
