"""Window bookkeeping: what is listed, what is deleted when."""

import pytest

from packager.window import Part, Segment, TrackWindow, WindowSpan


def _fill(window, msn, parts=4, ticks=45000):
    window.open_segment(Segment(msn, f"v/seg_{msn}.m4s", "v/init.mp4", msn * 180000, 90000, 0.0))
    for index in range(parts):
        window.add_part(Part(msn, index, f"v/seg_{msn}.{index}.m4s", ticks, 90000, index == 0, 1))
    window.complete_current()


def test_window_lists_n_segments_and_keeps_files_for_the_grace_period():
    window = TrackWindow(3)
    files, parts = [], []
    for msn in range(12):
        _fill(window, msn)
        expired = window.trim(target_duration=2)
        files += expired.segments
        parts += expired.parts
    assert [s.msn for s in window.segments] == [9, 10, 11]
    assert [s.msn for s in window.retired] == [5, 6, 7, 8]  # window + 1 segments after unlisting
    assert files == [f"v/seg_{msn}.m4s" for msn in range(5)]
    # parts: listed for the last 3 target durations (3 segments), served one segment more
    assert "v/seg_7.0.m4s" in parts and "v/seg_8.0.m4s" not in parts
    assert len(parts) == len(set(parts)) and not set(parts) & set(files)


def test_parts_listed_cover_three_target_durations():
    window = TrackWindow(10)
    for msn in range(6):
        _fill(window, msn, parts=2, ticks=45000)  # 1 s segments
    assert window.parts_listed_from(target_duration=1) == 3
    assert window.parts_listed_from(target_duration=2) == 0


def test_parts_must_continue_the_open_segment():
    window = TrackWindow(2)
    window.open_segment(Segment(0, "v/seg_0.m4s", "v/init.mp4", 0, 90000, 0.0))
    with pytest.raises(RuntimeError):
        window.add_part(Part(0, 1, "v/seg_0.1.m4s", 1, 90000, False, 1))
    with pytest.raises(RuntimeError):
        window.open_segment(Segment(1, "v/seg_1.m4s", "v/init.mp4", 0, 90000, 0.0))


def test_a_long_dvr_windows_trim_reads_only_the_segments_that_change(monkeypatch):
    """A 4-hour window is 7,200 segments, trimmed at every segment: the trim keeps running
    totals instead of adding the window up again (it did, on every segment)."""
    window = TrackWindow(WindowSpan(8, dvr_seconds=2000))  # 1,000 segments of 2 s
    for msn in range(1000):
        _fill(window, msn)
    window.trim(target_duration=2)
    reads = []
    duration = Segment.duration
    monkeypatch.setattr(Segment, "duration", property(lambda self: reads.append(self.msn) or duration.fget(self)))
    for msn in range(1000, 1010):
        _fill(window, msn)
        window.trim(target_duration=2)
    assert len(reads) < 20 * 10, len(reads)  # a few per segment (its parts, the last 3 TD of parts listed)
    assert [s.msn for s in window.segments] == list(range(10, 1010))  # still 2,000 s listed


@pytest.mark.parametrize("dvr_seconds", [None, 30.0, 61.0])
def test_running_totals_keep_what_the_span_says(dvr_seconds):
    """Segments of uneven lengths, the span changed and restarted midway: the window lists
    exactly what `WindowSpan.keeps` says of its complete segments."""
    span = WindowSpan(4, dvr_seconds)
    window = TrackWindow(span)
    for msn in range(80):
        _fill(window, msn, parts=1 + msn % 5)
        if msn == 40:
            span.dvr_seconds = 20.0 if dvr_seconds else None
        window.trim(target_duration=3, restart=msn == 60)
        durations = [s.duration for s in reversed(window.segments)]
        assert len(window.segments) == span.keeps(durations, restart=msn == 60), msn
