"""Low-latency DASH MPD text from the window model. Pure functions, no I/O.

The timeline of a live MPD ends with the segment being written, announced with the duration
of the last complete one (exact for a fixed GOP; corrected by the next MPD otherwise): its
availability starts one part after its start, which is what makes the MPD low latency.

One Period per init segment (a discontinuity or a source's format change starts a new one),
each with one video AdaptationSet holding every video Representation and one audio
AdaptationSet; a Representation's codecs, width and height are those of that Period's init
segment (`per_init`). Each Representation has its own SegmentTemplate + SegmentTimeline (exact
durations read from the fragments, in that track's timescale). Low latency per the DASH-IF
guidelines: `availabilityTimeOffset` (segment duration − part duration) with
`availabilityTimeComplete="false"` on the SegmentTemplate — the node serves the growing
segment by chunked transfer — plus UTCTiming and a ServiceDescription latency target.

Timeline: segment times are in the packager's media timeline; `presentation_offset`
(seconds, the stream's start) becomes each Representation's presentationTimeOffset and
`availability_start` is the wall clock at that instant, so Period@start is 0.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Mapping, Sequence
from xml.sax.saxutils import quoteattr

from packager.window import Segment

PROFILES = "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019"
UTC_TIMING_SCHEME = "urn:mpeg:dash:utc:http-iso:2014"
CHANNEL_SCHEME = "urn:mpeg:mpegB:cicp:ChannelConfiguration"


@dataclass(frozen=True)
class Representation:
    id: str
    content_type: str  # "video" | "audio"
    codecs: str
    bandwidth: int
    timescale: int
    segments: Sequence[Segment]  # complete segments, oldest first
    next_segment_ticks: int | None = None  # announce the segment being written, with this duration
    width: int | None = None
    height: int | None = None
    frame_rate: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    per_init: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # init name → codecs, width, height


@dataclass(frozen=True)
class Presentation:
    availability_start: float  # POSIX seconds at media time `presentation_offset`
    publish_time: float
    presentation_offset: float  # seconds of media time where the stream starts
    segment_target: float
    part_target: float
    max_segment_duration: float
    time_shift_buffer_depth: float
    suggested_presentation_delay: float
    target_latency: float
    utc_timing_url: str
    ended: bool = False
    media_duration: float | None = None  # when ended: from presentation_offset to the end


def mpd(presentation: Presentation, representations: Sequence[Representation]) -> str:
    p = presentation
    attributes = {
        "xmlns": "urn:mpeg:dash:schema:mpd:2011",
        "profiles": PROFILES,
        "type": "static" if p.ended else "dynamic",
        "availabilityStartTime": iso_time(p.availability_start),
        "publishTime": iso_time(p.publish_time),
        "minBufferTime": duration(max(p.part_target * 2, 1.0)),
        "maxSegmentDuration": duration(p.max_segment_duration),
    }
    if p.ended:
        attributes["mediaPresentationDuration"] = duration(p.media_duration or 0.0)
    else:
        attributes["minimumUpdatePeriod"] = duration(p.segment_target)
        attributes["timeShiftBufferDepth"] = duration(p.time_shift_buffer_depth)
        attributes["suggestedPresentationDelay"] = duration(p.suggested_presentation_delay)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<MPD{_attrs(attributes)}>"]
    if not p.ended:
        lines.append('  <ServiceDescription id="0">')
        lines.append(f'    <Latency target="{round(p.target_latency * 1000)}" referenceId="0"/>')
        lines.append("  </ServiceDescription>")
    offset = None if p.ended else max(0.0, p.segment_target - p.part_target)
    for period in periods(representations, p.presentation_offset, offset):
        start = duration(period.start - p.presentation_offset)
        lines.append(f'  <Period id="{period.id}" start="{start}">')
        for content_type in ("video", "audio"):
            chosen = [r for r in period.representations if r.content_type == content_type]
            if chosen:
                lines.extend(_adaptation_set(content_type, chosen, period))
        lines.append("  </Period>")
    lines.append(f'  <UTCTiming schemeIdUri="{UTC_TIMING_SCHEME}" value={quoteattr(p.utc_timing_url)}/>')
    lines.append("</MPD>")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Period:
    """Segments sharing one init segment; a discontinuity (new init) starts a new Period."""

    id: str
    init_name: str  # e.g. "init.mp4", "init_1.mp4"
    start: float  # media time, seconds
    representations: Sequence[Representation]
    availability_time_offset: float | None  # None: a static MPD, every segment is complete


def periods(
    representations: Sequence[Representation], presentation_offset: float, availability_time_offset: float | None,
) -> list[Period]:
    """Split each Representation's segments by init segment, in media order. Only the last
    Period of a live MPD announces the segment being written."""
    ended = availability_time_offset is None
    first_seen: dict[str, int] = {}
    for rep in representations:
        for segment in rep.segments:
            name = posixpath.basename(segment.init_path)
            first_seen[name] = min(first_seen.get(name, segment.msn), segment.msn)
    names = sorted(first_seen, key=first_seen.get) or ["init.mp4"]
    result = []
    for index, name in enumerate(names):
        last = index == len(names) - 1
        chosen = []
        for rep in representations:
            segments = [s for s in rep.segments if posixpath.basename(s.init_path) == name]
            if segments or not rep.segments:
                chosen.append(replace(rep, segments=segments,
                                      next_segment_ticks=rep.next_segment_ticks if last and not ended else None,
                                      **rep.per_init.get(name, {})))
        starts = [rep.segments[0].start / rep.timescale for rep in chosen if rep.segments]
        generation = name.removeprefix("init").removesuffix(".mp4").lstrip("_") or "0"
        result.append(Period(generation, name, min(starts, default=presentation_offset), chosen,
                             availability_time_offset))
    return result


def _adaptation_set(content_type: str, representations: Sequence[Representation], period: Period) -> list[str]:
    mime = f"{content_type}/mp4"
    lines = [
        f'    <AdaptationSet id="{0 if content_type == "video" else 1}" contentType="{content_type}" '
        f'mimeType="{mime}" segmentAlignment="true" startWithSAP="1">'
    ]
    for rep in representations:
        attributes = {"id": rep.id, "codecs": rep.codecs, "bandwidth": str(rep.bandwidth)}
        if rep.width and rep.height:
            attributes |= {"width": str(rep.width), "height": str(rep.height)}
        if rep.frame_rate:
            attributes["frameRate"] = rep.frame_rate
        if rep.sample_rate:
            attributes["audioSamplingRate"] = str(rep.sample_rate)
        lines.append(f"      <Representation{_attrs(attributes)}>")
        if rep.channels:
            lines.append(f'        <AudioChannelConfiguration schemeIdUri="{CHANNEL_SCHEME}" value="{rep.channels}"/>')
        lines.extend(_segment_template(rep, period))
        lines.append("      </Representation>")
    lines.append("    </AdaptationSet>")
    return lines


def _segment_template(rep: Representation, period: Period) -> list[str]:
    start_number = rep.segments[0].msn if rep.segments else 0
    attributes = {
        "timescale": str(rep.timescale),
        "presentationTimeOffset": str(round(period.start * rep.timescale)),
        "initialization": f"$RepresentationID$/{period.init_name}",
        "media": "$RepresentationID$/seg_$Number$.m4s",
        "startNumber": str(start_number),
    }
    if period.availability_time_offset is not None:
        attributes["availabilityTimeOffset"] = _seconds(period.availability_time_offset)
        attributes["availabilityTimeComplete"] = "false"
    lines = [f"        <SegmentTemplate{_attrs(attributes)}>", "          <SegmentTimeline>"]
    lines.extend(f"            {entry}" for entry in timeline_entries(rep.segments, rep.next_segment_ticks))
    lines.extend(["          </SegmentTimeline>", "        </SegmentTemplate>"])
    return lines


def timeline_entries(segments: Sequence[Segment], next_segment_ticks: int | None = None) -> list[str]:
    """`<S>` elements: `t` where the timeline starts or jumps, runs of equal `d` folded into `r`.

    `next_segment_ticks` appends the segment being written right after the last one, with
    that (predicted) duration: a low-latency client may fetch it while it grows.
    """
    spans = [(segment.start, segment.ticks) for segment in segments]
    if spans and next_segment_ticks:
        spans.append((spans[-1][0] + spans[-1][1], next_segment_ticks))
    runs: list[list[int]] = []  # [t, d, repeat, explicit_t]
    expected_start: int | None = None
    for start, length in spans:
        contiguous = expected_start is not None and start == expected_start
        if runs and contiguous and runs[-1][1] == length:
            runs[-1][2] += 1
        else:
            runs.append([start, length, 0, 0 if contiguous else 1])
        expected_start = start + length
    entries = []
    for start, length, repeat, explicit in runs:
        text = "<S"
        if explicit:
            text += f' t="{start}"'
        text += f' d="{length}"'
        if repeat:
            text += f' r="{repeat}"'
        entries.append(text + "/>")
    return entries


def iso_time(posix_seconds: float) -> str:
    moment = datetime.fromtimestamp(posix_seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration(seconds: float) -> str:
    """xs:duration in seconds, e.g. PT2.5S."""
    return f"PT{_seconds(seconds)}S"


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _attrs(attributes: dict[str, str]) -> str:
    return "".join(f" {name}={quoteattr(value)}" for name, value in attributes.items())
