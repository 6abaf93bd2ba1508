"""MPD text from a hand-made model."""

import xml.etree.ElementTree as ET

from packager.dash import PeriodClock, Presentation, Representation, duration, mpd, timeline_entries
from packager.window import Part, Segment

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def _segments(starts_and_ticks, timescale=90000):
    segments = []
    for msn, (start, ticks) in enumerate(starts_and_ticks, start=4):
        segment = Segment(msn, f"v/seg_{msn}.m4s", "v/init.mp4", start, timescale, 0.0, complete=True)
        segment.parts.append(Part(msn, 0, "", ticks, timescale, True, 10))
        segments.append(segment)
    return segments


def test_timeline_folds_repeats_and_marks_jumps():
    segments = _segments([(900000, 180000), (1080000, 180000), (1260000, 180000), (1440000, 90000), (1600000, 180000)])
    assert timeline_entries(segments) == [
        '<S t="900000" d="180000" r="2"/>',
        '<S d="90000"/>',
        '<S t="1600000" d="180000"/>',
    ]


def _presentation(**overrides):
    values = dict(
        availability_start=1_800_000_000.0,
        publish_time=1_800_000_010.0,
        presentation_offset=10.0,
        segment_target=2.0,
        part_target=0.5,
        max_segment_duration=2.0,
        time_shift_buffer_depth=16.0,
        suggested_presentation_delay=2.0,
        target_latency=2.0,
        utc_timing_url="http://node:8080/time",
        periods={"init.mp4": PeriodClock(10.0, 10.04, 1_800_000_000.25)},
    )
    values.update(overrides)
    return Presentation(**values)


def test_a_period_keeps_its_start_while_the_window_slides():
    """Period@start and presentationTimeOffset come from the Period's clock, fixed when it
    appeared, not from the oldest segment left in the window; the first S keeps its t."""
    window = [(900000, 180000), (1080000, 180000), (1260000, 180000)]
    texts = [
        mpd(_presentation(), [Representation("v", "video", "avc1.64001f", 1, 90000, _segments(window)[i:])])
        for i in range(3)
    ]
    for text in texts:
        root = ET.fromstring(text)
        assert root.find("d:Period", NS).get("start") == "PT0S"
        template = root.find(".//d:SegmentTemplate", NS)
        assert template.get("presentationTimeOffset") == "900000"
        assert root.find(".//d:S", NS).get("t") is not None
    assert [ET.fromstring(t).find(".//d:S", NS).get("t") for t in texts] == ["900000", "1080000", "1260000"]


def test_a_period_without_its_clock_yet_is_not_listed():
    reps = [Representation("v", "video", "avc1.64001f", 1, 90000, _segments([(900000, 180000)]))]
    root = ET.fromstring(mpd(_presentation(periods={}), reps))
    assert root.findall("d:Period", NS) == []


def test_dynamic_mpd():
    reps = [
        Representation(
            "720p",
            "video",
            "avc1.64001f",
            3_000_000,
            90000,
            _segments([(900000, 180000)]),
            width=1280,
            height=720,
            frame_rate="30",
        ),
        Representation(
            "audio",
            "audio",
            "mp4a.40.2",
            128_000,
            48000,
            _segments([(480000, 96000)], 48000),
            sample_rate=48000,
            channels=2,
        ),
    ]
    root = ET.fromstring(mpd(_presentation(), reps))
    assert root.get("type") == "dynamic"
    assert root.get("availabilityStartTime") == "2027-01-15T08:00:00.000Z"
    assert root.get("timeShiftBufferDepth") == "PT16S"
    template = root.find(".//d:Representation[@id='720p']/d:SegmentTemplate", NS)
    assert template.get("startNumber") == "4" and template.get("presentationTimeOffset") == "900000"
    assert template.get("availabilityTimeOffset") == "1.5" and template.get("availabilityTimeComplete") == "false"
    audio = root.find(".//d:AdaptationSet[@contentType='audio']/d:Representation", NS)
    assert audio.find("d:AudioChannelConfiguration", NS).get("value") == "2"
    assert root.find("d:UTCTiming", NS).get("value") == "http://node:8080/time"
    assert "http://www.dashif.org/guidelines/low-latency-live-v5" in root.get("profiles").split(",")
    # the latency target is measured against a ProducerReferenceTime that exists, per set
    latency = root.find("d:ServiceDescription/d:Latency", NS)
    for adaptation_set, timescale in zip(root.iterfind(".//d:AdaptationSet", NS), (90000, 48000)):
        reference = adaptation_set.find("d:ProducerReferenceTime", NS)
        assert reference.get("id") == latency.get("referenceId") and reference.get("type") == "encoder"
        assert reference.get("wallClockTime") == "2027-01-15T08:00:00.250Z"
        assert reference.get("presentationTime") == str(round(10.04 * timescale))
        assert reference.find("d:UTCTiming", NS).get("value") == "http://node:8080/time"


def test_renditions_with_their_own_timescales_get_their_own_reference():
    reps = [
        Representation("720p", "video", "avc1.64001f", 1, 90000, _segments([(900000, 180000)])),
        Representation("360p", "video", "avc1.64001e", 1, 15360, _segments([(153600, 30720)], 15360)),
    ]
    root = ET.fromstring(mpd(_presentation(), reps))
    assert root.find(".//d:AdaptationSet/d:ProducerReferenceTime", NS) is None
    times = [
        r.find("d:ProducerReferenceTime", NS).get("presentationTime") for r in root.iterfind(".//d:Representation", NS)
    ]
    assert times == [str(round(10.04 * 90000)), str(round(10.04 * 15360))]


def test_static_mpd_after_the_end():
    reps = [Representation("v", "video", "avc1.64001f", 1, 90000, _segments([(900000, 180000)]))]
    root = ET.fromstring(mpd(_presentation(ended=True, media_duration=2.0), reps))
    assert [s.get("r") for s in root.iterfind(".//d:S", NS)] == [None]
    assert root.get("type") == "static" and root.get("mediaPresentationDuration") == "PT2S"
    assert root.get("minimumUpdatePeriod") is None
    assert root.find(".//d:SegmentTemplate", NS).get("availabilityTimeOffset") is None
    assert root.find(".//d:ProducerReferenceTime", NS) is None and root.find("d:ServiceDescription", NS) is None


def test_duration_format():
    assert duration(2.0) == "PT2S" and duration(1.5) == "PT1.5S" and duration(0) == "PT0S"
