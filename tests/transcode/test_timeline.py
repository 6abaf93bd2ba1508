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
