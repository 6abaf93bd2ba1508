"""The statistics API's time series, counted from stored viewer sessions and live minutes.

A series is Gcore's: `[[bucket start (Unix s), value], ...]`, one point per bucket of the
granularity from the bucket holding `from` up to `to` (empty buckets are 0, so a chart has
every point). Buckets are aligned in UTC: minutes, hours and days on the Unix epoch's grid,
months on calendar months.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from datetime import UTC, datetime

from server.db.statistics import StoredSession

SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
MONTH = "1mo"
MAX_POINTS = 10_000

Series = list[list[int]]


class TooManyPoints(ValueError):
    pass


def bucket_edges(start: float, end: float, granularity: str) -> list[int]:
    """The buckets' starts from the one holding `start` to the last starting before `end`,
    then that one's end."""
    if granularity == MONTH:
        return _month_edges(start, end)
    step = SECONDS[granularity]
    first = int(start // step) * step
    count = max(1, math.ceil((end - first) / step))
    if count > MAX_POINTS:
        raise TooManyPoints(f"{count} points between from and to at {granularity}; at most {MAX_POINTS}")
    return [first + i * step for i in range(count + 1)]


def _month_edges(start: float, end: float) -> list[int]:
    day = datetime.fromtimestamp(start, UTC)
    year, month = day.year, day.month
    edges = [int(datetime(year, month, 1, tzinfo=UTC).timestamp())]
    while edges[-1] < end or len(edges) < 2:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        edges.append(int(datetime(year, month, 1, tzinfo=UTC).timestamp()))
        if len(edges) > MAX_POINTS + 1:
            raise TooManyPoints(f"more than {MAX_POINTS} months between from and to")
    return edges


def _overlaps(edges: list[int], first: float, last: float) -> range:
    """The indexes of the buckets that [first, last] touches."""
    low = max(0, bisect_right(edges, first) - 1)
    high = min(len(edges) - 1, bisect_right(edges, last))
    return range(low, high)


def unique_viewers(sessions: Iterable[StoredSession], edges: list[int]) -> Series:
    """Per bucket, the distinct viewers (client hashes) that watched in it."""
    seen: list[set[str]] = [set() for _ in edges[:-1]]
    for session in sessions:
        for index in _overlaps(edges, session.started_at, session.last_seen_at):
            seen[index].add(session.client_hash)
    return [[edge, len(viewers)] for edge, viewers in zip(edges, seen, strict=False)]


def watch_seconds(sessions: Iterable[StoredSession], edges: list[int]) -> list[float]:
    """Per bucket, the seconds watched in it (each session's time cut at the bucket's edges)."""
    seconds = [0.0] * (len(edges) - 1)
    for session in sessions:
        for index in _overlaps(edges, session.started_at, session.last_seen_at):
            overlap = min(session.last_seen_at, edges[index + 1]) - max(session.started_at, edges[index])
            seconds[index] += max(0.0, overlap)
    return seconds


def watch_minutes(sessions: Iterable[StoredSession], edges: list[int]) -> Series:
    """Per bucket, the minutes watched, rounded up (as Gcore rounds them)."""
    return [[edge, minutes(seconds)] for edge, seconds in zip(edges, watch_seconds(sessions, edges), strict=False)]


def minutes(seconds: float) -> int:
    return math.ceil(seconds / 60 - 1e-9) if seconds > 0 else 0


def max_streams(live: Iterable[tuple[int, int]], edges: list[int]) -> Series:
    """Per bucket, the most streams live in one of its minutes."""
    per_minute: dict[int, int] = {}
    for minute, _stream_id in live:
        per_minute[minute] = per_minute.get(minute, 0) + 1
    most = [0] * (len(edges) - 1)
    for minute, count in per_minute.items():
        index = bisect_right(edges, minute) - 1
        if 0 <= index < len(most):
            most[index] = max(most[index], count)
    return [[edge, count] for edge, count in zip(edges, most, strict=False)]


def live_minutes(live: Iterable[tuple[int, int]], edges: list[int]) -> Series:
    """Per bucket, the minutes streams were live, summed over the streams."""
    total = [0] * (len(edges) - 1)
    for minute, _stream_id in live:
        index = bisect_right(edges, minute) - 1
        if 0 <= index < len(total):
            total[index] += 1
    return [[edge, count] for edge, count in zip(edges, total, strict=False)]
