"""A clip's segments copied out of a real packager run's window (`packager/clip_copy.py`):
whole segments overlapping the span, byte for byte, timed as the live output timed them."""

from __future__ import annotations

import shutil

import pytest

from packager.clip_copy import ClipTrackCopy, overlapping, window_segment
from packager.hls import Entry
from packager.recording_layout import IndexWriter, read_recording
from tests.packager.packager_testkit import FAKE_NOW, make_clip, package


@pytest.fixture(scope="module")
def live_run(media_dir, tmp_path_factory):
    """10 s, a segment per second, nothing deleted."""
    clip = make_clip(media_dir / "clip_10s.mp4", gop=25, seconds=10)
    return package(clip, tmp_path_factory.mktemp("live"), segment_target=1.0, window_segments=100)


def listed(run, rendition):
    """The window's segments as the node holds them: the playlist updates' settled entries
    (the newest segments, listed with their parts, settle later)."""
    entries = [Entry.from_plain(e) for p in run.of("playlist", rendition) for e in p["entries"]]
    return [window_segment(entry, rendition) for entry in entries]


def test_entries_say_where_and_when_each_segment_is(live_run):
    segments = listed(live_run, "origin")
    assert [s.msn for s in segments] == list(range(len(segments))) and len(segments) >= 3
    assert segments[2].path == "origin/seg_2.m4s" and segments[2].init == "origin/init.mp4"
    assert segments[2].wall_clock == FAKE_NOW + 2 and segments[2].end == FAKE_NOW + 3
    gap = Entry(
        9,
        1.0,
        False,
        "init.mp4",
        "#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:00.000Z\n#EXT-X-GAP\n#EXTINF:1.0,\nseg_9.m4s\n",
    )
    assert window_segment(gap, "origin") is None


def test_a_span_takes_the_whole_segments_it_touches(live_run):
    segments = listed(live_run, "origin")
    assert [s.msn for s in overlapping(segments, FAKE_NOW + 0.5, FAKE_NOW + 2.2)] == [0, 1, 2]
    assert [s.msn for s in overlapping(segments, FAKE_NOW + 1, FAKE_NOW + 2)] == [1]


def test_copies_are_the_live_segments_byte_for_byte_with_their_timing(live_run, tmp_path):
    index = IndexWriter(tmp_path / "clip")
    for track, rendition in (("video", "origin"), ("audio", "audio")):
        copy = ClipTrackCopy(live_run.out_dir, index, track)
        for segment in overlapping(listed(live_run, rendition), FAKE_NOW + 0.5, FAKE_NOW + 2.2):
            assert copy.copy(segment)
    index.close()
    recording = read_recording(tmp_path / "clip")
    live = {e["path"]: e for e in live_run.of("segment", "origin")}
    video = recording.tracks["video"]
    assert len(video) == 3 and len(recording.tracks["audio"]) >= 2
    for number, recorded in enumerate(video):
        source = live[f"origin/seg_{number}.m4s"]
        assert (recorded.ticks, recorded.size) == (source["ticks"], source["size"])
        # read back from the copy: the first decode time, up to two frames earlier with B-frames
        assert source["start"] - 2 * 3600 <= recorded.start <= source["start"]
        assert (recording.directory / recorded.file).read_bytes() == (live_run.out_dir / source["path"]).read_bytes()
        assert not recorded.discontinuity


def test_a_segment_the_window_deleted_is_skipped_and_the_next_marked_discontinuous(live_run, tmp_path):
    live_dir = tmp_path / "live"
    shutil.copytree(live_run.out_dir, live_dir)
    (live_dir / "origin" / "seg_1.m4s").unlink()
    index = IndexWriter(tmp_path / "clip")
    copy = ClipTrackCopy(live_dir, index, "video")
    copied = [copy.copy(s) for s in overlapping(listed(live_run, "origin"), FAKE_NOW, FAKE_NOW + 3)]
    index.close()
    assert copied == [True, False, True]
    video = read_recording(tmp_path / "clip").tracks["video"]
    assert [s.discontinuity for s in video] == [False, True]
