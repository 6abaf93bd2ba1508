from packager.boundaries import SegmentBoundaries


def test_first_keyframe_starts_and_non_keyframes_never_do():
    boundaries = SegmentBoundaries(2.0)
    assert not boundaries.is_segment_start(0.0, False)
    assert boundaries.is_segment_start(0.5, True)
    assert not boundaries.is_segment_start(1.5, True)  # keyframe, but only 1 s in
    assert not boundaries.is_segment_start(2.5, False)
    assert boundaries.is_segment_start(2.5, True)


def test_gop_longer_than_target_makes_longer_segments():
    boundaries = SegmentBoundaries(2.0)
    starts = [t for t in range(13) if boundaries.is_segment_start(float(t), t % 3 == 0)]
    assert starts == [0, 3, 6, 9, 12]


def test_millisecond_rounding_does_not_skip_a_gop():
    boundaries = SegmentBoundaries(2.0)
    assert boundaries.is_segment_start(0.021, True)
    assert boundaries.is_segment_start(2.0205, True)  # 1/1000 time base rounding


def test_reset_lets_the_next_keyframe_start():
    boundaries = SegmentBoundaries(2.0)
    assert boundaries.is_segment_start(10.0, True)
    boundaries.reset()
    assert boundaries.is_segment_start(0.0, True)
