"""The IDR decision every rendition shares, and the frame-rate cap that must not break it."""

from transcode.keyframes import FrameRateCap, KeyframePlan


def feed(plan: KeyframePlan, rate: int, gop: int, seconds: float) -> list[int]:
    """Source packets at `rate` fps (1/1000 time base), a keyframe every `gop` frames;
    returns the pts of the frames the renditions must encode as IDR frames."""
    forced = []
    for index in range(int(rate * seconds)):
        pts = round(index * 1000 / rate)
        plan.on_source_packet(pts, pts / 1000, index % gop == 0)
        if plan.forces_idr(pts):
            forced.append(pts)
    return forced


def test_source_keyframes_starting_a_segment_become_idr_frames():
    # 1 s source GOP, 2 s segments: every other keyframe starts a segment
    assert feed(KeyframePlan(2.0), 25, 25, 9) == [0, 2000, 4000, 6000, 8000]


def test_a_long_source_gop_gives_long_segments_for_every_variant():
    assert feed(KeyframePlan(2.0), 30, 90, 10) == [0, 3000, 6000, 9000]


def test_other_frames_are_never_forced():
    plan = KeyframePlan(2.0)
    plan.on_source_packet(0, 0.0, True)
    plan.on_source_packet(40, 0.04, False)
    assert plan.forces_idr(0) and not plan.forces_idr(40) and not plan.forces_idr(None)


def test_the_plan_forgets_old_segment_starts():
    plan = KeyframePlan(1.0)
    for second in range(200):
        plan.on_source_packet(second * 1000, float(second), True)
    assert not plan.forces_idr(0) and plan.forces_idr(199_000)
    assert len(plan.known) == len(plan.starts) <= 64


def test_reset_starts_a_segment_at_the_next_keyframe():
    plan = KeyframePlan(2.0)
    plan.on_source_packet(0, 0.0, True)
    plan.reset()
    assert plan.on_source_packet(500, 0.5, True)


def test_rate_cap_halves_60fps_to_30():
    cap = FrameRateCap(30)
    kept = [i for i in range(120) if cap.keep(i / 60, False)]
    assert len(kept) == 60 and kept[:3] == [0, 2, 4]


def test_rate_cap_keeps_forced_frames_even_between_kept_ones():
    cap = FrameRateCap(30)
    assert cap.keep(0.0, False)
    assert not cap.keep(1 / 60, False)
    assert cap.keep(1 / 60 + 0.001, True)


def test_no_cap_keeps_everything_and_a_jump_back_is_kept():
    assert all(FrameRateCap(None).keep(i / 120, False) for i in range(10))
    cap = FrameRateCap(30)
    assert cap.keep(10.0, False) and cap.keep(2.0, False)
