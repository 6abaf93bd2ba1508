"""Low-latency DASH MPD text from the window model. Pure functions, no I/O.

What an MPD announces never changes in a later one (ISO/IEC 23009-1 §5.4, DASH-IF IOP live
rules): availabilityStartTime is fixed for the stream, a Period's start (and so each
presentationTimeOffset) for the life of that Period, and every `<S>` once listed keeps its
`t` and `d`. So a SegmentTimeline lists complete segments only: the duration of the segment
being written is not known until the next keyframe ends it (segments are cut at the source's
keyframes, so no constant @duration describes them). Segments that slide out of the window
just leave the timeline; the first remaining one carries an explicit `t`.

One Period per init segment (a discontinuity or a source's format change starts a new one),
each with one video AdaptationSet holding every video Representation and one audio
AdaptationSet; a Representation's codecs, width and height are those of that Period's init
segment (`per_init`). Each Representation has its own SegmentTemplate + SegmentTimeline (exact
durations read from the fragments, in that track's timescale). Low-latency signalling per the
DASH-IF "Low-latency Modes for DASH" guidelines: the `low-latency-live-v5` profile,
`availabilityTimeOffset` (segment duration − part duration) with
`availabilityTimeComplete="false"` (the node serves a segment by chunked transfer while it
grows), UTCTiming (an absolute URL), a ServiceDescription latency target and the
ProducerReferenceTime it refers to (each fragment also carries a `prft` box, see
`packager/moof.py`).

Timeline: segment times are in the packager's media timeline; `presentation_offset`
(seconds, the stream's start) is where `availability_start` (the wall clock at that instant)
puts the zero of the MPD timeline. Each Period's start (media seconds, fixed when the Period
first appeared) is given by the caller, and is its presentationTimeOffset.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypedDict
from xml.sax.saxutils import quoteattr

from packager.window import Segment

PROFILES = "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019"
LOW_LATENCY_PROFILE = "http://www.dashif.org/guidelines/low-latency-live-v5"
UTC_TIMING_SCHEME = "urn:mpeg:dash:utc:http-iso:2014"
CHANNEL_SCHEME = "urn:mpeg:mpegB:cicp:ChannelConfiguration"
REFERENCE_ID = "0"  # the ProducerReferenceTime the latency target is measured against


class InitFormat(TypedDict, total=False):
    """What one init segment changes of its Representation (the fields of the same name)."""

    codecs: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class Representation:
    id: str
    content_type: str  # "video" | "audio"
    codecs: str
    bandwidth: int
    timescale: int
    segments: Sequence[Segment]  # complete segments, oldest first
    width: int | None = None
    height: int | None = None
    frame_rate: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    per_init: Mapping[str, InitFormat] = field(default_factory=dict)  # by init segment name


@dataclass(frozen=True)
class PeriodClock:
    """What stays fixed for the life of a Period, chosen when it first appears in an MPD."""

    start: float  # media seconds: the earliest start of its first segments
    reference_media: float  # media seconds of a sample …
    reference_wall: float  # … and the POSIX wall clock at which it was received (ProducerReferenceTime)


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
    periods: dict[str, PeriodClock]  # by init segment name ("init.mp4", "init_1.mp4", …)
    ended: bool = False
    media_duration: float | None = None  # when ended: from presentation_offset to the end


def mpd(presentation: Presentation, representations: Sequence[Representation]) -> str:
    p = presentation
    attributes = {
        "xmlns": "urn:mpeg:dash:schema:mpd:2011",
        "profiles": PROFILES if p.ended else f"{PROFILES},{LOW_LATENCY_PROFILE}",
        "type": "static" if p.ended else "dynamic",
        "availabilityStartTime": iso_time(p.availability_start),
        "publishTime": iso_time(p.publish_time),
        "minBufferTime": duration(max(p.part_target * 2, 1.0)),
        "maxSegmentDuration": duration(p.max_segment_duration),
    }
    if p.ended:
        attributes["mediaPresentationDuration"] = duration(p.media_duration or 0.0)
    else:
        attributes["minimumUpdatePeriod"] = duration(p.part_target)
        attributes["timeShiftBufferDepth"] = duration(p.time_shift_buffer_depth)
        attributes["suggestedPresentationDelay"] = duration(p.suggested_presentation_delay)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<MPD{_attrs(attributes)}>"]
    if not p.ended:
        lines.append('  <ServiceDescription id="0">')
        lines.append(f'    <Latency target="{round(p.target_latency * 1000)}" referenceId="{REFERENCE_ID}"/>')
        lines.append("  </ServiceDescription>")
    offset = None if p.ended else max(0.0, p.segment_target - p.part_target)
    for period in periods(representations, p.periods, offset):
        start = duration(max(0.0, period.clock.start - p.presentation_offset))
        lines.append(f'  <Period id="{period.id}" start="{start}">')
        for content_type in ("video", "audio"):
            chosen = [r for r in period.representations if r.content_type == content_type]
            if chosen:
                lines.extend(_adaptation_set(content_type, chosen, period, p))
        lines.append("  </Period>")
    lines.append(f"  {_utc_timing(p.utc_timing_url)}")
    lines.append("</MPD>")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Period:
    """Segments sharing one init segment; a discontinuity (new init) starts a new Period."""

    id: str
    init_name: str  # e.g. "init.mp4", "init_1.mp4"
    clock: PeriodClock
    representations: Sequence[Representation]
    availability_time_offset: float | None  # None: a static MPD, every segment is complete


def periods(
    representations: Sequence[Representation],
    clocks: dict[str, PeriodClock],
    availability_time_offset: float | None,
) -> list[Period]:
    """Split each Representation's segments by init segment, in media order. A Period whose
    segments all left the window is gone; one without a clock yet is not listed."""
    first_seen: dict[str, int] = {}
    for rep in representations:
        for segment in rep.segments:
            name = posixpath.basename(segment.init_path)
            first_seen[name] = min(first_seen.get(name, segment.msn), segment.msn)
    result = []
    for name in sorted(first_seen, key=first_seen.__getitem__):
        clock = clocks.get(name)
        if clock is None:
            continue
        chosen = []
        for rep in representations:
            segments = [s for s in rep.segments if posixpath.basename(s.init_path) == name]
            if segments or not rep.segments:
                chosen.append(replace(rep, segments=segments, **rep.per_init.get(name, {})))
        generation = name.removeprefix("init").removesuffix(".mp4").lstrip("_") or "0"
        result.append(Period(generation, name, clock, chosen, availability_time_offset))
    return result


def _adaptation_set(
    content_type: str,
    representations: Sequence[Representation],
    period: Period,
    presentation: Presentation,
) -> list[str]:
    mime = f"{content_type}/mp4"
    lines = [
        (
            f'    <AdaptationSet id="{0 if content_type == "video" else 1}" contentType="{content_type}" '
            f'mimeType="{mime}" segmentAlignment="true" startWithSAP="1">'
        )
    ]
    timescales = {rep.timescale for rep in representations}
    shared_reference = not presentation.ended and len(timescales) == 1
    if shared_reference:
        lines.extend(_producer_reference_time(period.clock, timescales.pop(), presentation.utc_timing_url, "      "))
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
        if not presentation.ended and not shared_reference:
            lines.extend(_producer_reference_time(period.clock, rep.timescale, presentation.utc_timing_url, "        "))
        lines.extend(_segment_template(rep, period))
        lines.append("      </Representation>")
    lines.append("    </AdaptationSet>")
    return lines


def _producer_reference_time(clock: PeriodClock, timescale: int, utc_timing_url: str, indent: str) -> list[str]:
    """The pair ServiceDescription/Latency@referenceId points at: the wall clock at which the
    sample at `presentationTime` (this timescale) was received; its UTCTiming says which clock."""
    attributes = {
        "id": REFERENCE_ID,
        "type": "encoder",
        "wallClockTime": iso_time(clock.reference_wall),
        "presentationTime": str(round(clock.reference_media * timescale)),
    }
    return [
        f"{indent}<ProducerReferenceTime{_attrs(attributes)}>",
        f"{indent}  {_utc_timing(utc_timing_url)}",
        f"{indent}</ProducerReferenceTime>",
    ]


def _utc_timing(url: str) -> str:
    return f'<UTCTiming schemeIdUri="{UTC_TIMING_SCHEME}" value={quoteattr(url)}/>'


def _segment_template(rep: Representation, period: Period) -> list[str]:
    start_number = rep.segments[0].msn if rep.segments else 0
    attributes = {
        "timescale": str(rep.timescale),
        "presentationTimeOffset": str(round(period.clock.start * rep.timescale)),
        "initialization": f"$RepresentationID$/{period.init_name}",
        "media": "$RepresentationID$/seg_$Number$.m4s",
        "startNumber": str(start_number),
    }
    if period.availability_time_offset is not None:
        attributes["availabilityTimeOffset"] = _seconds(period.availability_time_offset)
        attributes["availabilityTimeComplete"] = "false"
    lines = [f"        <SegmentTemplate{_attrs(attributes)}>", "          <SegmentTimeline>"]
    lines.extend(f"            {entry}" for entry in timeline_entries(rep.segments))
    lines.extend(["          </SegmentTimeline>", "        </SegmentTemplate>"])
    return lines


def timeline_entries(segments: Sequence[Segment]) -> list[str]:
    """`<S>` elements: `t` where the timeline starts or jumps, runs of equal `d` folded into `r`."""
    spans = [(segment.start, segment.ticks) for segment in segments]
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
    moment = datetime.fromtimestamp(posix_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration(seconds: float) -> str:
    """xs:duration in seconds, e.g. PT2.5S."""
    return f"PT{_seconds(seconds)}S"


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _attrs(attributes: dict[str, str]) -> str:
    return "".join(f" {name}={quoteattr(value)}" for name, value in attributes.items())
