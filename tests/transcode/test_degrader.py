"""When the transcoder sheds a rendition: behind real time *and* blocked on its encoders."""

from transcode.degrader import Degrader


def run(degrader: Degrader, seconds: int, speed: float, blocked: float, start: float = 0.0) -> list[float]:
    """One observation per wall second; returns the times at which it said to shed."""
    shed = []
    for second in range(seconds + 1):
        wall = start + second
        if degrader.observe(wall, wall * speed, blocked if second else 0.0):
            shed.append(wall)
    return shed


def test_real_time_never_sheds():
    assert run(Degrader(5), 30, 1.0, 0.5) == []


def test_slow_and_blocked_sheds_after_the_patience_then_waits_again():
    assert run(Degrader(5), 12, 0.8, 0.5) == [5.0, 10.0]


def test_slow_source_with_idle_encoders_is_not_the_transcoders_fault():
    assert run(Degrader(5), 30, 0.5, 0.0) == []


def test_a_recovery_restarts_the_count():
    degrader = Degrader(5)
    assert run(degrader, 4, 0.8, 0.5) == []
    assert not degrader.observe(5, 5.0, 0.0)  # caught up for one window
    assert run(degrader, 4, 0.8, 0.5, start=6) == []


def test_nothing_is_measured_before_the_output_has_media():
    degrader = Degrader(1)
    assert not any(degrader.observe(t, None, 1.0) for t in range(5))
