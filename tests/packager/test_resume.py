"""A worker that replaces another of the same stream: its outputs continue the old ones.

Real clips packaged twice (three times), as an old and a new worker would, the second
started from what `ResumeTracker` read in the first one's events; then checked as a player
reading both in turn would: numbers only rise, no URL is used twice, the discontinuity is
tagged and counted, the media decodes, the clocks stay true.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from packager_testkit import FAKE_NOW, decode_times, discontinuity_numbers, package, parse_media_playlist

from packager.resume import ResumePoint, ResumeTracker, Timeline, TsResume
from packager.ts_output import TsRendition
from packager.ts_playlist import TsMediaPlaylist, TsSegment
from tests.support.mpd_conformance import check_mpds

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
LATER = 30.0  # seconds of wall clock between the two workers
CLOCK_URL = "http://node.example:8080/time"


def tracked(run) -> ResumePoint:
    tracker = ResumeTracker()
    for event in run.events:
        tracker.observe(event)
    return tracker.point()


def announced(run) -> set[str]:
    return {e["path"] for e in run.events if e["event"] in ("init", "part", "segment")}


def live_playlists(run, rendition="origin"):
    return [parse_media_playlist(e["text"]) for e in run.of("playlist", rendition) if "#EXT-X-ENDLIST" not in e["text"]]


@pytest.fixture(scope="module")
def runs(clip_1s_gop, tmp_path_factory):
    """Three workers in turn; each later one resumes from the events of the one before."""
    first = package(clip_1s_gop, tmp_path_factory.mktemp("first"), window_segments=2)
    second = package(
        clip_1s_gop, tmp_path_factory.mktemp("second"), window_segments=1, resume=tracked(first), now=FAKE_NOW + LATER
    )
    third = package(
        clip_1s_gop,
        tmp_path_factory.mktemp("third"),
        window_segments=1,
        resume=tracked(second),
        now=FAKE_NOW + 2 * LATER,
    )
    return first, second, third


def test_the_tracker_points_past_everything_a_player_was_told_of(runs):
    first, second, _ = runs
    point = tracked(first)
    last = max(e["msn"] for e in first.of("segment"))
    assert point.msn == last + 2  # the preload hint after the last segment named last + 1
    assert point.init_generation == 1 and point.discontinuity_sequence == 0
    assert point.timeline is not None
    assert point.timeline.availability_start == pytest.approx(FAKE_NOW, abs=0.1)
    later = tracked(second)
    assert later.msn > point.msn and later.init_generation == 2 and later.discontinuity_sequence == 1


def test_the_new_playlist_continues_numbers_after_a_discontinuity(runs):
    first, second, third = runs
    start = tracked(first).msn
    playlists = live_playlists(second)
    head = next(p for p in playlists if p.segments)
    first_text = next(e["text"] for e in second.of("playlist", "origin"))
    assert f"#EXT-X-MEDIA-SEQUENCE:{start}\n" in first_text
    assert head.segments[0].msn == start and head.segments[0].discontinuity
    assert "EXT-X-DISCONTINUITY-SEQUENCE" not in head.tags  # nothing before it was a discontinuity
    assert head.segments[0].map_uri == "init_1.mp4"
    # as the window slides, the tag leaves with its segment and DISCONTINUITY-SEQUENCE counts it
    slid = next(p for p in playlists if p.segments and p.segments[0].msn > start)
    assert slid.tags["EXT-X-DISCONTINUITY-SEQUENCE"] == "1" and not slid.segments[0].discontinuity
    # a player that read the old playlists, then the new ones: numbers only go up
    numbers: dict[int, int] = {}
    for playlist in live_playlists(first) + playlists + live_playlists(third):
        for msn, number in discontinuity_numbers(playlist).items():
            assert numbers.setdefault(msn, number) == number, f"segment {msn} changed its number"
    old = [n for msn, n in numbers.items() if msn < start]
    new = [n for msn, n in numbers.items() if msn >= start]
    assert set(old) == {0} and min(new) >= 1 and max(new) == 2
    assert sorted(numbers) == sorted(set(numbers)) and min(m for m in numbers if m >= start) == start


def test_no_url_is_used_twice(runs):
    first, second, third = runs
    assert not announced(first) & announced(second)
    assert not (announced(first) | announced(second)) & announced(third)


def test_the_new_segments_decode_and_their_clocks_are_true(runs, tmp_path):
    first, second, _ = runs
    start = tracked(first).msn
    init = (second.out_dir / "origin" / "init_1.mp4").read_bytes()
    times = decode_times(init + (second.out_dir / "origin" / f"seg_{start}.m4s").read_bytes(), tmp_path / "a.mp4")
    assert times and times[0][2]  # starts with a keyframe
    old = decode_times(
        (first.out_dir / "origin" / "init.mp4").read_bytes() + (first.out_dir / "origin" / "seg_0.m4s").read_bytes(),
        tmp_path / "b.mp4",
    )
    # the media timeline goes on where the wall clock says: LATER seconds after the old start
    assert min(t for t, _, _ in times) == pytest.approx(min(t for t, _, _ in old) + LATER, abs=0.1)
    head = next(p for p in live_playlists(second) if p.segments)
    assert head.segments[0].program_date_time == "2027-01-15T08:00:30.000Z"  # FAKE_NOW + LATER


def test_the_mpd_keeps_its_clock_and_starts_a_new_period(runs):
    first, second, _ = runs
    start = tracked(first).msn
    old = ET.fromstring(first.of("mpd")[-2]["text"])  # the last live one
    new = ET.fromstring(second.of("mpd")[0]["text"])
    assert new.get("type") == "dynamic"
    assert new.get("availabilityStartTime") == old.get("availabilityStartTime")
    (period,) = new.findall("d:Period", MPD_NS)
    assert period.get("id") == "1"
    assert float(period.get("start")[2:-1]) == pytest.approx(LATER, abs=0.1)
    for representation in period.iter(f"{{{MPD_NS['d']}}}Representation"):
        template = representation.find("d:SegmentTemplate", MPD_NS)
        assert template.get("startNumber") == str(start)
        assert template.get("initialization") == "$RepresentationID$/init_1.mp4"
    old_numbers = [int(t.get("startNumber")) for t in old.iter(f"{{{MPD_NS['d']}}}SegmentTemplate")]
    assert start > max(old_numbers)


def test_a_timeline_behind_the_old_media_starts_after_it(clip_1s_gop, tmp_path):
    """A clock that says earlier than the old MPD's end (the old media ran ahead) never
    makes the new Period overlap the old one."""
    point = ResumePoint(
        msn=7,
        discontinuity_sequence=2,
        init_generation=3,
        timeline=Timeline(availability_start=FAKE_NOW, stream_start=10.0, media_end=100.0),
    )
    run = package(clip_1s_gop, tmp_path, resume=point, now=FAKE_NOW + 5)
    root = ET.fromstring(run.of("mpd")[0]["text"])
    period_start = float(root.find("d:Period", MPD_NS).get("start")[2:-1])
    assert 90.0 <= period_start < 90.2  # the old end (100 − 10), plus the clip's B-frame delay
    playlist = next(p for p in live_playlists(run) if p.segments)
    assert playlist.tags["EXT-X-DISCONTINUITY-SEQUENCE"] == "2" and playlist.segments[0].discontinuity
    assert playlist.segments[0].msn == 7 and playlist.segments[0].map_uri == "init_3.mp4"
    assert run.of("part")[0]["discontinuity_sequence"] == 3


def test_point_round_trips_through_json():
    point = ResumePoint(4, 1, 2, {"origin": TsResume(9, 1)}, Timeline(1.5, 10.0, 30.25), TsResume(6, 2))
    assert ResumePoint.from_json(point.to_json()) == point
    assert ResumePoint.from_json(None) is None
    assert ResumeTracker().point() is None


def test_a_restored_point_is_past_what_the_lost_run_could_have_announced():
    """A point stored by the node's last run, up to `margin` segments and one worker old."""
    stored = ResumePoint(4, 1, 2, {"origin": TsResume(9, 1)}, Timeline(1.5, 10.0, 30.25))
    tracker = ResumeTracker()
    tracker.restore(stored, margin=6)
    restored = tracker.point()
    assert (restored.msn, restored.discontinuity_sequence, restored.init_generation) == (10, 2, 3)
    assert restored.ts == {"origin": TsResume(15, 2)} and restored.timeline == stored.timeline
    assert restored.ts_for("720p") == TsResume(10, 2)  # not in the stored point: past any it wrote
    tracker.observe({"event": "part", "msn": 12, "discontinuity_sequence": 3})  # this run goes on
    assert tracker.point().msn == 13 and tracker.point().discontinuity_sequence == 3


# -- legacy HLS (MPEG-TS) ---------------------------------------------------------------


def ts_seg(n: int, discontinuity: bool = False) -> TsSegment:
    return TsSegment(sequence=n, path=f"origin/ts_{n}.ts", duration=2.0, discontinuity=discontinuity)


def test_a_ts_playlist_that_continues_an_older_one():
    playlist = TsMediaPlaylist(window_segments=2, start_sequence=12, discontinuity_sequence=3)
    playlist.add(ts_seg(12, discontinuity=True))
    assert playlist.discontinuities == 4
    text = playlist.render()
    assert "#EXT-X-MEDIA-SEQUENCE:12\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n#EXT-X-DISCONTINUITY\n" in text
    playlist.add(ts_seg(13))
    playlist.add(ts_seg(14))
    text = playlist.render()
    assert "#EXT-X-MEDIA-SEQUENCE:13\n#EXT-X-DISCONTINUITY-SEQUENCE:4\n" in text
    assert "#EXT-X-DISCONTINUITY\n" not in text and playlist.discontinuities == 4


def test_a_resumed_ts_rendition_names_its_files_on_and_marks_the_first(clip_1s_gop, tmp_path):
    import av

    events: list[dict] = []
    rendition = TsRendition(
        tmp_path, "origin", events.append, window_segments=8, start_sequence=40, discontinuity_sequence=2
    )
    rendition.discontinuity()
    with av.open(str(clip_1s_gop)) as container:
        indexes = {s.index: rendition.add_stream(s) for s in container.streams}
        for packet in container.demux():
            if packet.dts is not None:
                start = packet.stream.type == "video" and packet.is_keyframe
                rendition.mux(indexes[packet.stream_index], packet, segment_start=start)
    rendition.close(endlist=True)
    segments = [e for e in events if e["event"] == "ts_segment"]
    assert [e["path"] for e in segments] == [f"origin/ts_{n}.ts" for n in range(40, 40 + len(segments))]
    assert {e["discontinuity_sequence"] for e in segments} == {3}
    text = (tmp_path / "origin" / "mpegts.m3u8").read_text()
    assert "#EXT-X-MEDIA-SEQUENCE:40\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n" in text
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    with av.open(str(tmp_path / "origin" / "ts_40.ts")) as container:
        assert next(container.decode(video=0)).key_frame


# -- after a crash: the old window is listed on ------------------------------------------


def crashed_at(run, segments: int) -> list[dict]:
    """The run's events up to the moment its worker crashed: `segments` origin segments
    complete, one part of the next announced."""
    completed, events = 0, []
    for event in run.events:
        events.append(event)
        if event["event"] == "segment" and event["rendition"] == "origin":
            completed += 1
        if completed == segments and event["event"] == "part" and event["rendition"] == "origin":
            return events
    raise AssertionError("the clip is too short")


@pytest.fixture(scope="module")
def after_crash(clip_1s_gop, tmp_path_factory):
    """A worker that crashed mid-segment, and the one that follows it in the same directory."""
    out = tmp_path_factory.mktemp("crash")
    first = package(clip_1s_gop, out, window_segments=3, segment_target=1.0, utc_timing_url=CLOCK_URL)
    tracker = ResumeTracker()
    before = crashed_at(first, 4)
    for event in before:
        tracker.observe(event)
    point = tracker.point(carry=True)
    second = package(
        clip_1s_gop,
        out,
        window_segments=3,
        segment_target=1.0,
        resume=point,
        now=FAKE_NOW + 3.0,
        utc_timing_url=CLOCK_URL,
    )
    return point, second, [e["text"] for e in before if e["event"] == "mpd"]


def test_the_worker_after_a_crash_lists_the_old_window_on(after_crash):
    point, second, _ = after_crash
    assert [e["msn"] for e in point.carried["origin"]][-3:] == [1, 2, 3]
    first_live = second.of("playlist", "origin")[0]["text"]
    playlist = parse_media_playlist(first_live)
    assert "#EXT-X-MEDIA-SEQUENCE:1\n" in first_live and [s.msn for s in playlist.segments] == [1, 2, 3, 4, 5]
    assert [s.uri for s in playlist.segments] == ["seg_1.m4s", "seg_2.m4s", "seg_3.m4s", "seg_4.m4s", None]
    head, new = first_live.split("#EXT-X-DISCONTINUITY\n")
    assert "#EXT-X-GAP\n#EXTINF:" in head and head.count("#EXT-X-PART:") == 0  # the old ones: whole
    assert new.startswith('#EXT-X-MAP:URI="init_1.mp4"') and 'URI="seg_5.0.m4s"' in new
    assert point.msn == 5  # msn 4 was being written: a GAP now, so msn 5 is fifth by position
    carried = second.of("carried")[0]["paths"]
    assert {"origin/seg_1.m4s", "origin/seg_4.m4s", "origin/init.mp4"} <= set(carried)


def test_the_mpd_after_a_crash_keeps_what_the_old_one_announced(after_crash):
    """The old Period keeps its start and its segments their t and d in the new worker's MPD."""
    _, second, old_mpds = after_crash
    announced = check_mpds(old_mpds + [e["text"] for e in second.of("mpd")])
    assert set(announced.period_starts) == {"0", "1"}


def test_the_mpd_after_a_crash_keeps_the_old_period_up_to_the_new_one(after_crash):
    _, second, _ = after_crash
    mpd = ET.fromstring(second.of("mpd")[0]["text"])
    old, new = mpd.findall("d:Period", MPD_NS)
    template = old.find(".//d:Representation[@id='origin']/d:SegmentTemplate", MPD_NS)
    timescale, offset = int(template.get("timescale")), int(template.get("presentationTimeOffset"))
    end = 0
    for entry in template.find("d:SegmentTimeline", MPD_NS):
        end = int(entry.get("t", end)) + int(entry.get("d")) * (1 + int(entry.get("r", 0)))
    old_start, new_start = float(old.get("start")[2:-1]), float(new.get("start")[2:-1])
    entries = sum(1 + int(e.get("r", 0)) for e in template.find("d:SegmentTimeline", MPD_NS))
    assert old.get("id") == "0" and new.get("id") == "1"
    # msn 3 (carried) and 4 (the gap) in the old Period; the first MPD comes once msn 5 is complete
    assert int(template.get("startNumber")) + entries == 5
    # The gap runs towards the new Period, up to one segment (the new worker came 3 s later)
    old_end = old_start + (end - offset) / timescale
    assert old_end <= new_start + 0.002 and new_start - old_end <= 3.0


def test_a_ts_rendition_after_a_crash_lists_the_old_window_on(tmp_path):
    carried = [
        {
            "event": "ts_segment",
            "rendition": "origin",
            "sequence": n,
            "path": f"origin/ts_{n}.ts",
            "duration": 2.0,
            "discontinuity": n == 7,
            "discontinuity_sequence": 1 + (n >= 7),
        }
        for n in range(5, 9)
    ]
    rendition = TsRendition(
        tmp_path,
        "origin",
        lambda e: None,
        window_segments=3,
        start_sequence=9,
        discontinuity_sequence=2,
        carried=carried[-3:],
    )
    text = rendition.playlist.render()
    assert "#EXT-X-MEDIA-SEQUENCE:6\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n" in text
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1 and text.rstrip().endswith("ts_8.ts")
