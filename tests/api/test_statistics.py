"""The statistics API through the official SDK, fed by the test's own viewers.

Two streams are published with ffmpeg; plain HTTP clients follow their playlists as players
do (a reload every part), each with its own user agent; the SDK's statistics methods then
answer the numbers those viewers made: unique viewers, watch time, views, max concurrent
streams. On SQLite and on PostgreSQL (one publish per backend, ~20 s each).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import gcore
import httpx
import pytest
from gcore import Gcore
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.db.engine import sync_url
from server.db.models import ViewerSessionRow
from tests.conftest import BACKENDS
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

RELOAD = 0.5  # a part: LL-HLS players reload this often
TOLERANCE = 2.0  # seconds: the node stamps reloads at its once-a-second tick


@pytest.fixture(scope="module", params=BACKENDS)
def stats_node(request, tmp_path_factory):
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database()
    node = Node(
        tmp_path_factory.mktemp(f"stats-{request.param}"),
        database_url=url,
        env={"HEADWATER_STATISTICS_FLUSH_INTERVAL": "0.5"},
    ).start()
    yield node
    node.stop()


@dataclass
class Viewer:
    """A player's requests: `path` reloaded every RELOAD seconds for `seconds`."""

    base_url: str
    user_agent: str
    path: str
    seconds: float
    first: float = 0.0
    last: float = 0.0
    reloads: int = 0
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._follow, daemon=True)

    def _follow(self) -> None:
        """Reloads from the first request on, as a player does, until it got the playlist
        and `seconds` have passed (a player of a stream just gone live gets 404s first)."""
        with httpx.Client(base_url=self.base_url, headers={"User-Agent": self.user_agent}, timeout=10) as http:
            self.first = time.time()
            while time.time() - self.first < self.seconds or not self.reloads:
                if http.get(self.path).status_code == 200:
                    self.reloads += 1
                self.last = time.time()
                time.sleep(RELOAD)

    @property
    def watched(self) -> float:
        return self.last - self.first


def follow(*viewers: Viewer) -> None:
    for viewer in viewers:
        viewer.thread.start()
    for viewer in viewers:
        viewer.thread.join()


def wait_for(check, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def points(answer) -> list[list[int]]:
    """The one series of a Gcore series answer: [[unix time, value], ...]."""
    assert len(answer) == 1 and answer[0].client == 0
    return answer[0].metrics.streams


def stored_sessions(node: Node, stream_id: int) -> list[ViewerSessionRow]:
    engine = create_engine(sync_url(node.database_url))
    try:
        with Session(engine) as db:
            return list(db.scalars(select(ViewerSessionRow).where(ViewerSessionRow.stream_id == stream_id)))
    finally:
        engine.dispose()


def test_the_sdk_counts_what_the_tests_viewers_did(stats_node):
    client = Gcore(api_key=stats_node.api_key, base_url=stats_node.base_url, max_retries=0)
    began = time.time()
    first = client.streaming.streams.create(name="watched", client_user_id=42)
    second = client.streaming.streams.create(name="alongside")
    publishers = [ffmpeg_publish(s.push_url, seconds=40) for s in (first, second)]
    try:
        for stream in (first, second):  # live, as the API says: no request to the streams but the viewers'
            wait_for(lambda s=stream: client.streaming.streams.get(s.id).live, f"stream {stream.id} live")
        base = stats_node.base_url
        one = Viewer(base, "viewer-one", f"/live/{first.id}/origin/index.m3u8", 6)
        two = Viewer(base, "viewer-two", f"/live/{first.id}/origin/index.m3u8", 3)
        three = Viewer(base, "viewer-three", f"/live/{second.id}/origin/mpegts.m3u8", 3)
        follow(one, two, three)
        one_dash = Viewer(base, "viewer-one", f"/live/{first.id}/index.mpd", 3)  # the same viewer, over DASH
        follow(one_dash)
        for stream in (first, second):
            assert client.streaming.streams.get(stream.id).live
        assert all(viewer.reloads for viewer in (one, two, three, one_dash))
    finally:
        for publisher in publishers:
            publisher.kill()
            publisher.wait()

    # the rows: one per (viewer, protocol), seconds as the viewer watched, no address stored
    rows = wait_for(
        lambda: (
            (found := stored_sessions(stats_node, first.id))
            and len(found) == 3
            and max(r.last_seen_at for r in found) >= one_dash.last - TOLERANCE
            and found
        ),
        "the first stream's three sessions written",
    )
    by_protocol = sorted((r.protocol, round(r.seconds)) for r in rows)
    assert [p for p, _ in by_protocol] == ["dash", "llhls", "llhls"]
    expected = sorted([one.watched, two.watched])
    watched = sorted(r.seconds for r in rows if r.protocol == "llhls")
    for got, want in zip(watched, expected, strict=True):
        assert abs(got - want) <= TOLERANCE, (watched, expected)
    dash = next(r for r in rows if r.protocol == "dash")
    assert abs(dash.seconds - one_dash.watched) <= TOLERANCE
    assert len({r.client_hash for r in rows}) == 2  # viewer one is one viewer over two protocols
    assert all("127.0.0.1" not in r.client_hash for r in rows)

    stats = client.streaming.statistics
    start, end = iso(began - 60), iso(time.time() + 60)
    viewers = points(stats.get_live_unique_viewers(from_=start, to=end, granularity="1d", stream_id=first.id))
    assert max(value for _, value in viewers) == 2
    assert points(stats.get_live_unique_viewers(from_=start, to=end, granularity="1d", client_user_id=42)) == viewers
    others = points(stats.get_live_unique_viewers(from_=start, to=end, granularity="1d", stream_id=second.id))
    assert max(value for _, value in others) == 1
    every = points(stats.get_live_unique_viewers(from_=start, to=end, granularity="1d"))
    assert max(value for _, value in every) == 3

    # watch time: minutes, rounded up per bucket (a few seconds each: one minute)
    total = stats.get_live_watch_time_total_cdn(stream_id=first.id)
    assert len(total) == 1 and total[0].duration == 1 and total[0].stream_id == str(first.id)
    series = points(stats.get_live_watch_time_cdn(from_=start, to=end, granularity="1m", stream_id=first.id))
    assert 1 <= sum(value for _, value in series) <= 3  # ~12 s in one minute, or cut by a minute's edge
    assert [t for t, _ in series] == sorted(t for t, _ in series) and all(t % 60 == 0 for t, _ in series)

    # views: sessions started, per day
    views = stats.get_views(date_from=start, date_to=end, group=["id"])
    mine = [row for row in views.data if row.id == first.id]
    assert sum(row.views for row in mine) == 3 and all(row.type == "live" for row in mine)
    assert sum(row.views for row in views.data) == 4

    # both streams were live at once
    streams = points(stats.get_max_streams_series(from_=start, to=end, granularity="1h"))
    assert max(value for _, value in streams) == 2
    minutes = points(stats.get_stream_series(from_=start, to=end, granularity="1d"))
    assert sum(value for _, value in minutes) >= 2


def test_bad_parameters_are_422_naming_the_field(stats_node):
    client = Gcore(api_key=stats_node.api_key, base_url=stats_node.base_url, max_retries=0)
    stats = client.streaming.statistics
    cases = [
        (lambda: stats.get_live_unique_viewers(from_="yesterday", to="2026-01-02T00:00:00Z"), "query.from"),
        (
            lambda: stats.get_live_unique_viewers(from_="2026-01-02T00:00:00Z", to="2026-01-01T00:00:00Z"),
            "query.to",
        ),
        (
            lambda: stats.get_max_streams_series(
                from_="2026-01-01T00:00:00Z",
                to="2026-01-02T00:00:00Z",
                granularity="2h",  # type: ignore[arg-type]
            ),
            "query.granularity",
        ),
        (  # a year of minutes is too many points
            lambda: stats.get_stream_series(from_="2025-01-01T00:00:00Z", to="2026-01-01T00:00:00Z", granularity="1m"),
            "query.granularity",
        ),
        (
            lambda: stats.get_views(date_from="2026-01-01", date_to="2026-01-02", group=["country"]),
            "query.group",
        ),
        (lambda: stats.get_live_watch_time_cdn(from_="2026-01-01", stream_id="x"), "query.stream_id"),  # type: ignore[arg-type]
    ]
    for call, field_name in cases:
        with pytest.raises(gcore.UnprocessableEntityError) as raised:
            call()
        assert field_name in raised.value.body["errors"], raised.value.body


def test_statistics_an_origin_has_not_answer_501(stats_node):
    client = Gcore(api_key=stats_node.api_key, base_url=stats_node.base_url, max_retries=0)
    stats = client.streaming.statistics
    with pytest.raises(gcore.APIStatusError) as raised:
        stats.get_views_by_browsers(date_from="2026-01-01", date_to="2026-01-02")
    assert raised.value.status_code == 501
    assert "browsers" in raised.value.body["message"]
    with pytest.raises(gcore.APIStatusError) as raised:
        stats.get_vod_unique_viewers_cdn(from_="2026-01-01", to="2026-01-02")
    assert raised.value.status_code == 501 and "live streams only" in raised.value.body["message"]
