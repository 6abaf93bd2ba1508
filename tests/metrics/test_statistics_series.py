"""The statistics API's series, counted from stored sessions and live minutes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.db.statistics import StoredSession
from server.metrics import statistics_series as series

HOUR = 3600
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def session(client: str, start: float, end: float, stream_id: int = 1) -> StoredSession:
    return StoredSession(stream_id, client, start, end)


def test_buckets_are_aligned_on_the_granularity_and_cover_the_frame():
    assert series.bucket_edges(T0 + 10, T0 + 2 * HOUR, "1h") == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert series.bucket_edges(T0 + 10, T0 + 2 * HOUR + 1, "1h") == [T0 + i * HOUR for i in range(4)]
    assert series.bucket_edges(T0 + 70, T0 + 80, "1m") == [T0 + 60, T0 + 120]  # one bucket at least


def test_month_buckets_follow_the_calendar():
    edges = series.bucket_edges(T0 + 40 * 86400, T0 + 70 * 86400, "1mo")  # Feb 10 → Mar 12
    assert [datetime.fromtimestamp(e, UTC).strftime("%m-%d") for e in edges] == ["02-01", "03-01", "04-01"]


def test_too_many_points_are_refused():
    with pytest.raises(series.TooManyPoints):
        series.bucket_edges(T0, T0 + 365 * 86400, "1m")


def test_unique_viewers_count_each_client_once_per_bucket_it_watched_in():
    edges = series.bucket_edges(T0, T0 + 3 * HOUR, "1h")
    sessions = [
        session("a", T0 + 100, T0 + 200),
        session("a", T0 + 300, T0 + HOUR + 10),  # the same viewer again, into the next hour
        session("b", T0 + 2 * HOUR + 5, T0 + 2 * HOUR + 50),
    ]
    assert series.unique_viewers(sessions, edges) == [[T0, 1], [T0 + HOUR, 1], [T0 + 2 * HOUR, 1]]


def test_watch_time_is_cut_at_the_buckets_edges_and_rounded_up_to_minutes():
    edges = series.bucket_edges(T0, T0 + 2 * HOUR, "1h")
    sessions = [session("a", T0 + HOUR - 30, T0 + HOUR + 90), session("b", T0 + 10, T0 + 20)]
    assert series.watch_seconds(sessions, edges) == [40.0, 90.0]
    assert series.watch_minutes(sessions, edges) == [[T0, 1], [T0 + HOUR, 2]]
    assert series.minutes(0) == 0 and series.minutes(60) == 1 and series.minutes(60.5) == 2


def test_max_streams_is_the_busiest_minute_and_live_minutes_add_up():
    edges = series.bucket_edges(T0, T0 + 2 * HOUR, "1h")
    live = [(T0, 1), (T0, 2), (T0 + 60, 1), (T0 + HOUR, 3)]
    assert series.max_streams(live, edges) == [[T0, 2], [T0 + HOUR, 1]]
    assert series.live_minutes(live, edges) == [[T0, 3], [T0 + HOUR, 1]]
