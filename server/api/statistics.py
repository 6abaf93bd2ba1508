"""Gcore's statistics API (`/streaming/statistics/…`), as far as an origin can answer it from
its own delivery: live unique viewers, watch time, views, max concurrent streams and the
stream (live minutes) series, counted from the viewer sessions and live minutes the node
stores (server/metrics/session_flush.py). Every other statistics route of the SDK answers
501: CDN-wide, player-side (browsers, countries, heatmaps) and VOD figures are not data an
origin has.

Series are Gcore's `[{"client", "metrics": {"streams": [[unix time, value], ...]}}]`: the SDK
types the points as plain integers, Gcore's documentation (and answer) gives each as a
`[time, value]` pair, which the SDK hands through unchanged. `client` is 0: a Headwater node
has one account.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.deps import DB, Authorized
from server.db.statistics import SessionFilter, StatisticsRepository, StoredSession
from server.errors import ERROR_RESPONSES, NotImplementedHere, error_responses, invalid_field
from server.metrics import statistics_series as series
from server.metrics.statistics_series import TooManyPoints

router = APIRouter(
    prefix="/statistics",
    tags=["statistics"],
    dependencies=[Authorized],
    responses={**ERROR_RESPONSES, **error_responses((501, "Not data an origin has"))},
)

CLIENT = 0  # Gcore's account id; one account per Headwater installation
Granularity = Literal["1m", "5m", "15m", "1h", "1d"]
WatchGranularity = Literal["1m", "5m", "15m", "1h", "1d", "1mo"]
VIEW_GROUPS = ("id", "event")  # of Gcore's host, os, browser, platform, ip, country, event, id
VIEW_EVENT = "start"  # a session is a playback that started (Gcore's player events: init, start, watch)


class StreamSeriesItemMetrics(BaseModel):
    streams: list[list[int]]  # [[bucket start, Unix s; value], ...]


class StreamSeriesItem(BaseModel):
    client: int
    metrics: StreamSeriesItemMetrics


class VodTotalStreamDurationSeriesItem(BaseModel):
    client: int
    duration: int  # minutes, rounded up
    client_user_id: int | None = None
    stream_id: str | None = None


class ViewsRow(BaseModel):
    date: str
    type: str
    views: int
    id: int | None = None
    event: str | None = None


class Views(BaseModel):
    data: list[ViewsRow]


def unix(moment: datetime) -> float:
    """A query's datetime in Unix seconds; one without a zone is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def time_range(start: datetime, end: datetime | None, end_field: str = "query.to") -> tuple[float, float]:
    first, last = unix(start), time.time() if end is None else unix(end)
    if last <= first:
        raise invalid_field(end_field, "must be after the start of the time frame")
    return first, last


def edges(start: float, end: float, granularity: str) -> list[int]:
    try:
        return series.bucket_edges(start, end, granularity)
    except TooManyPoints as error:
        raise invalid_field("query.granularity", str(error)) from None


def answer(points: series.Series) -> list[StreamSeriesItem]:
    return [StreamSeriesItem(client=CLIENT, metrics=StreamSeriesItemMetrics(streams=points))]


async def session_series(
    db: AsyncSession,
    start: datetime,
    to: datetime | None,
    granularity: str,
    stream_id: int | None,
    client_user_id: int | None,
    count: Callable[[list[StoredSession], list[int]], series.Series],
) -> list[StreamSeriesItem]:
    """A series counted from the viewer sessions in the time frame; the counting runs on a
    thread (a long frame holds many sessions and buckets: not on the node's event loop)."""
    first, last = time_range(start, to)
    buckets = edges(first, last, granularity)
    found = await StatisticsRepository(db).sessions(SessionFilter(first, last, stream_id, client_user_id))
    return answer(await asyncio.to_thread(count, found, buckets))


async def live_series(
    db: AsyncSession,
    start: datetime,
    to: datetime,
    granularity: str,
    count: Callable[[list[tuple[int, int]], list[int]], series.Series],
) -> list[StreamSeriesItem]:
    """A series counted from the minutes streams were live (on a thread, as above)."""
    first, last = time_range(start, to)
    buckets = edges(first, last, granularity)
    live = await StatisticsRepository(db).live_minutes(buckets[0], buckets[-1])
    return answer(await asyncio.to_thread(count, live, buckets))


@router.get("/stream/viewers", response_model=list[StreamSeriesItem])
async def live_unique_viewers(
    db: DB,
    start: datetime = Query(alias="from", description="Start of the time frame, ISO 8601"),
    to: datetime = Query(description="End of the time frame, ISO 8601"),
    granularity: Granularity = "1h",
    stream_id: int | None = None,
    client_user_id: int | None = None,
) -> list[StreamSeriesItem]:
    """Distinct viewers (client address and user agent) per bucket."""
    return await session_series(db, start, to, granularity, stream_id, client_user_id, series.unique_viewers)


@router.get("/stream/watching_duration", response_model=list[StreamSeriesItem])
async def live_watch_time(
    db: DB,
    start: datetime = Query(alias="from", description="Start of the time frame, ISO 8601"),
    to: datetime | None = Query(None, description="End of the time frame, ISO 8601; default now"),
    granularity: WatchGranularity = "1h",
    stream_id: int | None = None,
    client_user_id: int | None = None,
) -> list[StreamSeriesItem]:
    """Minutes watched per bucket, rounded up."""
    return await session_series(db, start, to, granularity, stream_id, client_user_id, series.watch_minutes)


@router.get("/stream/watching_duration/total", response_model=list[VodTotalStreamDurationSeriesItem])
async def live_watch_time_total(
    db: DB,
    start: datetime | None = Query(None, alias="from", description="Default: the first session"),
    to: datetime | None = Query(None, description="Default: now"),
    stream_id: int | None = None,
    client_user_id: int | None = None,
) -> list[VodTotalStreamDurationSeriesItem]:
    """Minutes watched in the whole time frame, rounded up."""
    statistics = StatisticsRepository(db)
    if start is None:
        earliest = await statistics.first_session_start()
        start = datetime.fromtimestamp(earliest if earliest is not None else time.time() - 1, UTC)
    first, last = time_range(start, to)
    found = await statistics.sessions(SessionFilter(first, last, stream_id, client_user_id))
    seconds = sum(series.watch_seconds(found, [int(first), int(last) + 1]))
    return [
        VodTotalStreamDurationSeriesItem(
            client=CLIENT,
            duration=series.minutes(seconds),
            client_user_id=client_user_id,
            stream_id=None if stream_id is None else str(stream_id),
        )
    ]


@router.get("/max_stream", response_model=list[StreamSeriesItem])
async def max_streams(
    db: DB,
    start: datetime = Query(alias="from", description="Start of the time frame, ISO 8601"),
    to: datetime = Query(description="End of the time frame, ISO 8601"),
    granularity: Granularity = "1h",
) -> list[StreamSeriesItem]:
    """The most streams live at once (in one minute) per bucket."""
    return await live_series(db, start, to, granularity, series.max_streams)


@router.get("/stream", response_model=list[StreamSeriesItem])
async def stream_minutes(
    db: DB,
    start: datetime = Query(alias="from", description="Start of the time frame, ISO 8601"),
    to: datetime = Query(description="End of the time frame, ISO 8601"),
    granularity: Granularity = "1h",
) -> list[StreamSeriesItem]:
    """Gcore's "transcoding minutes of all streams": the minutes streams were live, summed."""
    return await live_series(db, start, to, granularity, series.live_minutes)


@router.get("/views", response_model=Views, response_model_exclude_none=True)
async def views(
    db: DB,
    date_from: datetime = Query(description="Start of the time frame, ISO 8601"),
    date_to: datetime = Query(description="End of the time frame, ISO 8601"),
    id: str | None = Query(None, description="A stream id"),
    type: Literal["live", "vod", "playlist"] | None = None,
    event: Literal["init", "start", "watch"] | None = None,
    group: list[str] = Query([], description="id and/or event: group=id,event or group=id&group=event"),
    host: str | None = None,
    country: str | None = None,
) -> Views:
    """Viewer sessions started per UTC day (every player, not only the built-in one)."""
    first, last = time_range(date_from, date_to, "query.date_to")
    groups = [name for value in group for name in value.split(",") if name]
    unknown = [name for name in groups if name not in VIEW_GROUPS]
    if unknown:
        raise invalid_field("query.group", f"Headwater groups views by {' and '.join(VIEW_GROUPS)} only, not {unknown}")
    for name, value in (("host", host), ("country", country)):
        if value is not None:
            raise invalid_field(f"query.{name}", f"Headwater does not record the viewers' {name}")
    stream_id = None
    if id is not None:
        if not id.isdigit():
            raise invalid_field("query.id", "a stream id")
        stream_id = int(id)
    if type not in (None, "live") or event not in (None, VIEW_EVENT):
        return Views(data=[])  # Headwater counts live viewer sessions, each one `start`
    found = await StatisticsRepository(db).sessions(SessionFilter(first, last, stream_id))
    counts: dict[tuple[date, int | None], int] = {}
    for session in found:
        if first <= session.started_at < last:
            key = (
                datetime.fromtimestamp(session.started_at, UTC).date(),
                session.stream_id if "id" in groups else None,
            )
            counts[key] = counts.get(key, 0) + 1
    return Views(
        data=[
            ViewsRow(
                date=day.isoformat(),
                type="live",
                views=count,
                id=stream,
                event=VIEW_EVENT if "event" in groups else None,
            )
            for (day, stream), count in sorted(counts.items(), key=lambda item: (item[0][0], item[0][1] or 0))
        ]
    )


# Every other statistics route of the SDK (gcore.resources.streaming.statistics), and why an
# origin cannot answer it.
NOT_ANSWERED = {
    "/ffprobe": "the source's ffprobe history is Gcore's monitoring, not kept by Headwater",
    "/popular": "video popularity comes from Gcore's built-in player events",
    "/storage": "storage series are Gcore's billing data",
    "/uniqs": "unique viewers of the built-in player come from Gcore's player events; "
    "use /streaming/statistics/stream/viewers",
    "/cdn/uniqs": "CDN-wide unique viewers are a CDN's data; use /streaming/statistics/stream/viewers",
    "/browsers": "viewers' browsers come from Gcore's player events",
    "/countries": "viewers' countries need a GeoIP database Headwater does not have",
    "/hosts": "embedding hosts come from Gcore's player events",
    "/systems": "viewers' operating systems come from Gcore's player events",
    "/embeds": "referers come from Gcore's player events",
    "/regions": "viewers' regions need a GeoIP database Headwater does not have",
    "/heatmap": "watch heatmaps come from Gcore's player events",
    "/vod/storage_duration": "VOD storage series are Gcore's billing data",
    "/vod/transcoding_duration": "VOD transcoding series are Gcore's billing data",
    "/vod/viewers": "Headwater keeps viewer sessions of live streams only",
    "/vod/watching_duration": "Headwater keeps viewer sessions of live streams only",
    "/vod/watching_duration/total": "Headwater keeps viewer sessions of live streams only",
}


def _not_answered(path: str, reason: str) -> Callable[[], Awaitable[None]]:
    async def refuse() -> None:
        raise NotImplementedHere(f"/streaming/statistics{path} is not answered by Headwater: {reason}")

    refuse.__name__ = "not_answered_" + path.strip("/").replace("/", "_")
    return refuse


for _path, _reason in NOT_ANSWERED.items():
    router.add_api_route(_path, _not_answered(_path, _reason), methods=["GET"], include_in_schema=False)
