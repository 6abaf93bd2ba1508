"""Turn RTMP's wrapping 32-bit millisecond clock into an ever-growing int."""

from __future__ import annotations

WRAP = 1 << 32
HALF = 1 << 31


class TimestampUnwrapper:
    """Maps each 32-bit timestamp to the unwrapped value closest to the previous one.

    Audio and video interleave with small backward steps; a jump of more than half the
    32-bit range backward is a wrap, forward is a late message from before the wrap.
    """

    def __init__(self) -> None:
        self._last: int | None = None

    def unwrap(self, raw: int) -> int:
        raw &= WRAP - 1
        if self._last is None:
            self._last = raw
            return raw
        candidate = (self._last - (self._last & (WRAP - 1))) + raw
        if candidate - self._last > HALF:
            candidate -= WRAP
        elif self._last - candidate > HALF:
            candidate += WRAP
        self._last = candidate
        return candidate
