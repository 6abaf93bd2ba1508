"""The DVR window (issue 19): every output lists the last `dvr_seconds`, resized and cleared at runtime."""

from __future__ import annotations

import re

import pytest
from packager_testkit import make_clip, package, parse_media_playlist

from packager.live import PackagerConfig
from packager.manifests import time_shift_buffer_depth
from packager.ts_playlist import TsMediaPlaylist, TsSegment
from packager.window import Part, Segment, TrackWindow, WindowSpan


def _fill(window: TrackWindow, msn: int, ticks: int = 90000) -> None:
    """A complete 2-part segment of 2 × `ticks` at 90 kHz."""
    window.open_segment(Segment(msn, f"v/seg_{msn}.m4s", "v/init.mp4", msn * 2 * ticks, 90000, 0.0))
    for index in range(2):
        window.add_part(Part(msn, index, f"v/seg_{msn}.{index}.m4s", ticks, 90000, index == 0, 1))
    window.complete_current()


def test_the_span_keeps_the_last_dvr_seconds_and_never_less_than_the_live_window():
    span = WindowSpan(live_segments=3, dvr_seconds=10)
    assert span.keeps([2.0] * 20) == 5
    assert span.keeps([2.0, 2.0, 7.0, 2.0]) == 3  # 11 s would pass 10: the live window still stands
    assert span.keeps([2.0] * 2) == 2
    assert span.keeps([2.0] * 20, restart=True) == 3
    assert WindowSpan(3).keeps([2.0] * 20) == 3


def test_a_dvr_window_lists_its_seconds_and_keeps_only_the_live_grace_on_disk():
    span = WindowSpan(live_segments=3, dvr_seconds=20)
    window = TrackWindow(span)
    deleted = []
    for msn in range(30):
        _fill(window, msn)
        deleted += window.trim(target_duration=2).segments
    assert [s.msn for s in window.segments] == list(range(20, 30))  # 10 × 2 s
    assert [s.msn for s in window.retired] == [16, 17, 18, 19]  # live window + 1, as without DVR
    assert deleted == [f"v/seg_{msn}.m4s" for msn in range(16)]


def test_shrinking_trims_at_once_growing_keeps_and_a_restart_leaves_the_live_window():
    span = WindowSpan(live_segments=3, dvr_seconds=20)
    window = TrackWindow(span)
    for msn in range(12):
        _fill(window, msn)
        window.trim(target_duration=2)
    assert len(window.segments) == 10
    span.dvr_seconds = 8
    expired = window.trim(target_duration=2)
    assert [s.msn for s in window.segments] == [8, 9, 10, 11]
    assert expired.segments == [f"v/seg_{msn}.m4s" for msn in range(4)]  # beyond the 4 retained
    span.dvr_seconds = 40
    window.trim(target_duration=2)
    assert [s.msn for s in window.segments] == [8, 9, 10, 11]  # nothing comes back
    _fill(window, 12)
    window.trim(target_duration=2)
    assert [s.msn for s in window.segments] == [8, 9, 10, 11, 12]  # and it grows again
    window.trim(target_duration=2, restart=True)
    assert [s.msn for s in window.segments] == [10, 11, 12]
    _fill(window, 13)
    window.trim(target_duration=2)
    assert [s.msn for s in window.segments] == [10, 11, 12, 13]  # the DVR window grows from there


def test_the_ts_playlist_follows_the_same_span():
    span = WindowSpan(live_segments=2, dvr_seconds=6)
    playlist = TsMediaPlaylist(span)
    slid = []
    for sequence in range(10):
        slid += playlist.add(TsSegment(sequence, f"o/ts_{sequence}.ts", 2.0, False))
    assert [s.sequence for s in playlist.segments] == [7, 8, 9]
    assert "#EXT-X-MEDIA-SEQUENCE:7" in playlist.render()
    span.dvr_seconds = None
    assert [s.sequence for s in playlist.trim()] == [7]
    assert [s.sequence for s in playlist.segments] == [8, 9]


def test_the_mpd_time_shift_buffer_depth_is_the_dvr_window(tmp_path):
    assert time_shift_buffer_depth(PackagerConfig(tmp_path, window_segments=8)) == 16
    assert time_shift_buffer_depth(PackagerConfig(tmp_path, window_segments=8, dvr_seconds=3600)) == 3600


@pytest.fixture(scope="module")
def clip_20s(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("dvr") / "clip.mp4", gop=25, seconds=20, sizes=("320x240", "160x120"))


def test_a_packaged_dvr_stream_lists_its_window_in_every_playlist_and_the_mpd(clip_20s, tmp_path):
    run = package(clip_20s, tmp_path / "out", names=("origin", "low"), window_segments=2, dvr_seconds=12)
    for rendition in ("origin", "low", "audio"):
        playlist = parse_media_playlist(run.of("playlist", rendition)[-1]["text"])
        assert playlist.ended
        assert 12 - 2.1 <= sum(s.duration for s in playlist.segments) <= 12  # the last 12 s, not 2 segments
        first = playlist.segments[0].msn
        assert (tmp_path / "out" / rendition / f"seg_{first}.m4s").exists()
        assert not (tmp_path / "out" / rendition / f"seg_{first - 4}.m4s").exists()  # past the grace: gone
    live_mpd = run.of("mpd")[-2]["text"]
    assert 'type="dynamic"' in live_mpd and 'timeShiftBufferDepth="PT12' in live_mpd
    final = run.of("mpd")[-1]["text"]
    assert 'type="static"' in final
    starts = [int(t) for t in re.findall(r'<S t="(\d+)"', final)]
    assert len(starts) == 3  # one timeline per Representation, each from the window's first segment


def test_a_full_disk_shrinks_the_window_and_the_segments_go_on(clip_20s, tmp_path, monkeypatch, caplog):
    """ENOSPC injected at the media write once the out dir holds BUDGET bytes (where no tmpfs can
    be mounted; tests/transcode/test_disk_full.py fills a real one)."""
    import errno
    import os

    from packager import atomic

    out = tmp_path / "out"
    budget = 900_000  # about 8 s of the clip's CMAF
    real_write_all = atomic._write_all

    def write_all(fd: int, data: bytes, offset: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        if path.endswith((".m4s", ".mp4")):
            used = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            if used + len(data) > budget:
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
        real_write_all(fd, data, offset)

    monkeypatch.setattr(atomic, "_write_all", write_all)
    run = package(clip_20s, out, names=("origin", "low"), window_segments=2, dvr_seconds=3600)
    assert any("DVR window shrinks" in r.getMessage() for r in caplog.records)
    segments = run.of("segment", "origin")
    assert segments[-1]["msn"] >= 8 and [s["msn"] for s in segments] == list(range(len(segments)))
    final = parse_media_playlist(run.of("playlist", "origin")[-1]["text"])
    assert final.ended and final.segments[-1].msn == segments[-1]["msn"]
    assert sum(s.duration for s in final.segments) < 19  # the window gave way


def test_a_worker_after_a_crash_carries_the_dvr_window_not_only_the_live_one():
    events = [{"msn": msn, "duration": 2.0} for msn in range(30)]
    assert [e["msn"] for e in WindowSpan(3, dvr_seconds=20).newest(events)] == list(range(20, 30))
    assert [e["msn"] for e in WindowSpan(3).newest(events)] == [27, 28, 29]
    assert WindowSpan(3).newest([]) == []
