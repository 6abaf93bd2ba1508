"""Source timestamps made continuous: jumps re-anchored, repeated stamps nudged."""

from fractions import Fraction

from transcode.timeline import ContinuousTimeline

MS = Fraction(1, 1000)


def run(timeline: ContinuousTimeline, stamps: list[int], stream: int = 0) -> list[int]:
    return [timeline.shift(stream, dts, dts, MS)[0] for dts in stamps]


def test_a_steady_clock_is_left_alone():
    assert run(ContinuousTimeline(), [0, 40, 80, 120]) == [0, 40, 80, 120]


def test_a_forward_jump_continues_one_frame_later():
    timeline = ContinuousTimeline()
    assert run(timeline, [0, 40, 80, 10_080, 10_120]) == [0, 40, 80, 120, 160]
    assert timeline.jumps == 1


def test_a_backward_jump_continues_one_frame_later():
    assert run(ContinuousTimeline(), [5000, 5040, 5080, 0, 40]) == [5000, 5040, 5080, 5120, 5160]


def test_a_repeated_stamp_moves_one_tick_and_nothing_else():
    timeline = ContinuousTimeline()
    assert run(timeline, [0, 23, 23, 46]) == [0, 23, 24, 46]
    assert timeline.jumps == 0


def test_streams_are_anchored_separately():
    timeline = ContinuousTimeline()
    assert run(timeline, [0, 40, 20_040], stream=0) == [0, 40, 80]
    assert run(timeline, [0, 23, 20_023], stream=1) == [0, 23, 46]


def test_pts_follows_dts_and_never_precedes_it():
    timeline = ContinuousTimeline()
    timeline.shift(0, 0, 80, MS)
    timeline.shift(0, 40, 40, MS)
    assert timeline.shift(0, 10_040, 10_120, MS) == (80, 160)
    assert timeline.shift(0, 10_040, 10_040, MS) == (81, 81)  # nudged duplicate


def test_a_new_source_continues_each_kind_of_stream_in_its_own_time_base():
    timeline = ContinuousTimeline()
    ms, ticks_90k = Fraction(1, 1000), Fraction(1, 90000)
    for n in range(50):  # the old source: 25 fps video, 1/1000
        timeline.shift(0, 5000 + 40 * n, 5000 + 40 * n, ms, "video")
        timeline.shift(1, 5010 + 23 * n, 5010 + 23 * n, ms, "audio")
    timeline.source_changed()
    # The backup: MPEG-TS clock far away, other stream indexes, 1/90000.
    video_dts, _ = timeline.shift(1, 8_000_000, 8_000_000, ticks_90k, "video")
    audio_dts, _ = timeline.shift(0, 8_001_000, 8_001_000, ticks_90k, "audio")
    assert video_dts * ticks_90k == Fraction(5000 + 40 * 49 + 40, 1000)  # one frame after main's last
    assert audio_dts * ticks_90k == Fraction(5010 + 23 * 49 + 23, 1000)
    later, _ = timeline.shift(1, 8_003_600, 8_003_600, ticks_90k, "video")
    assert later - video_dts == 3600  # and runs on at its own pace


def test_limits_are_exact_in_any_time_base():
    """A step back of exactly MAX_JITTER is a jump, one tick less is nudged; a leap of exactly
    MAX_GAP is kept, one tick more is a jump (in a time base that does not divide them)."""
    tb = Fraction(1, 90000)
    jitter, gap = 45000, 450000  # 0.5 s and 5 s
    timeline = ContinuousTimeline()
    timeline.shift(0, 1_000_000, None, tb)
    timeline.shift(0, 1_003_000, None, tb)
    assert timeline.shift(0, 1_003_000 - (jitter - 1), None, tb)[0] == 1_003_001  # nudged
    assert timeline.jumps == 0
    assert timeline.shift(0, 1_003_001 - jitter, None, tb)[0] == 1_006_001  # jump: one step on
    assert timeline.jumps == 1
    assert timeline.shift(0, 1_003_001 - jitter + gap, None, tb)[0] == 1_006_001 + gap  # kept
    assert timeline.jumps == 1
    timeline.shift(0, 1_003_001 - jitter + 2 * gap + 1, None, tb)
    assert timeline.jumps == 2
    odd = Fraction(1001, 30000)  # 29.97 fps ticks: 0.5 s is 14.985 ticks
    clock_timeline = ContinuousTimeline()
    clock_timeline.shift(1, 100, None, odd)
    clock_timeline.shift(1, 101, None, odd)
    assert clock_timeline.shift(1, 101 - 14, None, odd)[0] == 102  # 14 ticks < 0.5 s: nudged
    assert clock_timeline.jumps == 0
    clock_timeline.shift(1, 102 - 15, None, odd)  # 15 ticks > 0.5 s: a jump
    assert clock_timeline.jumps == 1
