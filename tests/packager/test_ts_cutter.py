"""TsCutter on real ffmpeg TS bytes, fed in awkward chunk sizes, and on broken input."""
from __future__ import annotations

import subprocess

import pytest

from packager.ts_cutter import CutSegment, SegmentStart, TsCutter
from packager.ts_packet import TsPacket, TsPacketError


@pytest.fixture(scope="module")
def ts_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("ts") / "clip.ts"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
         "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "4", "-c:v", "libx264",
         "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
        check=True,
    )
    return path.read_bytes()


def cut(data: bytes, every_nth_keyframe: int, chunk: int) -> tuple[list[CutSegment], CutSegment | None]:
    segments: list[CutSegment] = []
    seen = []

    def decide(pts: int, follows_tables: bool) -> SegmentStart | None:
        seen.append(pts)
        return SegmentStart() if (len(seen) - 1) % every_nth_keyframe == 0 else None

    cutter = TsCutter(0x100, decide, segments.append)
    for offset in range(0, len(data), chunk):
        assert cutter.write(data[offset:offset + chunk]) == len(data[offset:offset + chunk])
    return segments, cutter.finish()


@pytest.mark.parametrize("chunk", [1, 1000, 188 * 7, 1 << 20])
def test_cuts_every_second_keyframe_at_the_pat_without_losing_bytes(ts_bytes, chunk):
    segments, last = cut(ts_bytes, every_nth_keyframe=2, chunk=chunk)
    assert len(segments) == 1 and last is not None  # keyframes at 0, 1, 2, 3 s: cut at 2 s
    first_pat = next(i for i in range(0, len(ts_bytes), 188) if ts_bytes[i + 2] == 0 and ts_bytes[i + 1] & 0x1F == 0)
    assert segments[0].data + last.data == ts_bytes[first_pat:]
    for segment in (segments[0], last):
        assert TsPacket.parse(segment.data[:188]).pid == 0
    assert (segments[0].next_pts - segments[0].first_pts) == 2 * 90000
    assert (last.last_pts - last.first_pts) == 2 * 90000 - 3600
    assert last.next_pts is None


def test_a_start_on_the_first_keyframe_does_not_make_an_empty_segment(ts_bytes):
    segments, last = cut(ts_bytes, every_nth_keyframe=1, chunk=4096)
    assert len(segments) == 3
    assert all(len(s.data) > 188 * 10 for s in segments)


def test_discontinuity_mark_travels_with_its_segment(ts_bytes):
    segments: list[CutSegment] = []
    marks = iter([SegmentStart(), None, SegmentStart(discontinuity=True), None])
    cutter = TsCutter(0x100, lambda pts, tables: next(marks), segments.append)
    cutter.write(ts_bytes)
    last = cutter.finish()
    assert [s.start.discontinuity for s in segments + [last]] == [False, True]


def test_garbage_and_lost_sync_raise(ts_bytes):
    cutter = TsCutter(0x100, lambda pts, tables: None, lambda s: None)
    with pytest.raises(TsPacketError):
        cutter.write(ts_bytes[:188] + b"\x00" * 188)
    # a partial packet waits for the rest instead of failing
    cutter = TsCutter(0x100, lambda pts, tables: None, lambda s: None)
    cutter.write(ts_bytes[:100])
    assert cutter.finish() is None


def test_nothing_written_means_no_segment():
    cutter = TsCutter(0x100, lambda pts, tables: None, lambda s: None)
    assert cutter.finish() is None
