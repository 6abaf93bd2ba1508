from ingest.rtmp.timestamp import TimestampUnwrapper


def test_monotonic_across_wrap():
    unwrapper = TimestampUnwrapper()
    raw = [0xFFFFFF00, 0xFFFFFFF0, 0x10, 0x100, 0xFFFFFFFA, 0x200]  # one late pre-wrap message
    assert [unwrapper.unwrap(t) for t in raw] == [
        0xFFFFFF00,
        0xFFFFFFF0,
        (1 << 32) + 0x10,
        (1 << 32) + 0x100,
        0xFFFFFFFA,
        (1 << 32) + 0x200,
    ]


def test_two_wraps():
    unwrapper = TimestampUnwrapper()
    values = [unwrapper.unwrap(t & 0xFFFFFFFF) for t in range(0, 3 << 32, 1 << 30)]
    assert values == list(range(0, 3 << 32, 1 << 30))


def test_small_backward_steps_are_not_wraps():
    unwrapper = TimestampUnwrapper()
    assert [unwrapper.unwrap(t) for t in (1000, 980, 1040, 1020)] == [1000, 980, 1040, 1020]
