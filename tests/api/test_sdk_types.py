"""Every control route's real answers, validated by the official SDK's own types.

The SDK's client builds its models without validating them (a wrong type reaches the caller
unnoticed), so this test validates each raw JSON answer with the SDK model's `model_validate`
and checks that every field the SDK declares is present, nested models included. Errors are
checked for the one error shape. A route added without a case here fails the test.
"""

from __future__ import annotations

import typing
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from gcore.types.streaming import QualitySets, Restream, Stream, Video, Views
from gcore.types.streaming.max_stream_series import MaxStreamSeriesItem
from gcore.types.streaming.statistic_get_live_unique_viewers_response import StatisticGetLiveUniqueViewersResponseItem
from gcore.types.streaming.stream_series import StreamSeriesItem
from gcore.types.streaming.streams import Overlay
from gcore.types.streaming.vod_total_stream_duration_series import VodTotalStreamDurationSeriesItem
from pydantic import BaseModel

from server.api.statistics import NOT_ANSWERED
from server.app import create_app
from server.settings import Settings


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The SDK model inside `Optional[List[Model]]` and the like, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = model_of(argument)
        if found is not None:
            return found
    return None


def missing_fields(sdk: type[BaseModel], data: Any, where: str = "") -> list[str]:
    """SDK fields absent from `data` (and from the objects nested in it), by path."""
    if isinstance(data, list):
        return [m for i, item in enumerate(data) for m in missing_fields(sdk, item, f"{where}[{i}]")]
    missing = [f"{where}.{name}" for name in sdk.model_fields if name not in data]
    for name, field in sdk.model_fields.items():
        nested = model_of(field.annotation)
        if nested is not None and data.get(name) is not None:
            missing += missing_fields(nested, data[name], f"{where}.{name}")
    return missing


def conforms(sdk: type[BaseModel], response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    data = response.json()
    for item in data if isinstance(data, list) else [data]:
        sdk.model_validate(item)  # raises on any field of the wrong type or value
    assert not missing_fields(sdk, data), missing_fields(sdk, data)
    return data


def conforms_series(sdk: type[BaseModel], response: httpx.Response) -> Any:
    """A statistics series: the SDK's item shape, each point a `[unix time, value]` pair as
    Gcore documents and answers them (the SDK types a point as one integer; checked here with
    the pair's value in its place)."""
    assert response.status_code == 200, response.text
    data = response.json()
    for item in data:
        pairs = item["metrics"]["streams"]
        assert all(len(pair) == 2 and all(isinstance(n, int) for n in pair) for pair in pairs), pairs
        sdk.model_validate({**item, "metrics": {"streams": [value for _, value in pairs]}})
    return data


def is_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status", "message", "errors"} and body["status"] == status, body
    assert isinstance(body["message"], str) and body["message"], body


class Recorder(httpx.Client):
    """An httpx client that notes which route template each request hit."""

    def __init__(self, routes: list[tuple[str, str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.routes = routes
        self.hit: set[tuple[str, str]] = set()

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> httpx.Response:
        path = str(url).split("?")[0]
        for route_method, template, matcher in self.routes:
            if route_method == method.upper() and matcher(path):
                self.hit.add((route_method, template))
        return super().request(method, url, *args, **kwargs)


def api_routes() -> list[tuple[str, str, Any]]:
    """(method, path template, matcher) of every route under /streaming."""
    app = create_app(Settings(data_dir="/nonexistent"))
    return [
        (method, route.path, lambda p, r=route: r.path_regex.match(p) is not None)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/streaming")
        for method in route.methods
    ]


@pytest.fixture
def recorder(api_node):
    with Recorder(api_routes(), base_url=api_node.base_url, headers=api_node.headers, timeout=10) as c:
        yield c


def test_every_route_answers_what_the_sdk_types_say(recorder, video_ids):
    http = recorder
    stream = conforms(Stream, http.post("/streaming/streams", json={"name": "typed", "dvr_enabled": True}), 201)
    sid = stream["id"]
    conforms(Stream, http.get("/streaming/streams"))
    conforms(Stream, http.get(f"/streaming/streams/{sid}"))
    conforms(Stream, http.patch(f"/streaming/streams/{sid}", json={"stream": {"name": "renamed"}}))
    for action in ("start_recording", "dvr_cleanup"):
        is_error(http.put(f"/streaming/streams/{sid}/{action}"), 400)  # not live
    assert http.put(f"/streaming/streams/{sid}/stop_recording").json() == {}  # nothing records

    overlays = conforms(
        Overlay,
        http.post(f"/streaming/streams/{sid}/overlays", json=[{"url": "https://w.example/a", "x": 1, "y": 2}]),
        201,
    )
    oid = overlays[0]["id"]
    conforms(Overlay, http.get(f"/streaming/streams/{sid}/overlays"))
    conforms(Overlay, http.patch(f"/streaming/streams/{sid}/overlays", json=[{"id": oid, "width": 100}]))
    conforms(Overlay, http.get(f"/streaming/streams/{sid}/overlays/{oid}"))
    conforms(Overlay, http.patch(f"/streaming/streams/{sid}/overlays/{oid}", json={"height": 50}))
    conforms(Stream, http.get(f"/streaming/streams/{sid}"))  # now with an overlay nested
    assert http.delete(f"/streaming/streams/{sid}/overlays/{oid}").status_code == 204

    sets = conforms(QualitySets, http.get("/streaming/quality_sets"))
    live = next(s for s in sets["live"] if s["name"] == "abr_720p")
    conforms(QualitySets, http.put("/streaming/quality_sets/default", json={"live": {"id": live["id"]}}))
    conforms(QualitySets, http.put("/streaming/quality_sets/default", json={"live": {"id": None}}))

    ready, pending = video_ids
    conforms(Video, http.get("/streaming/videos"))
    conforms(Video, http.get(f"/streaming/videos/{ready}"))
    conforms(Video, http.get(f"/streaming/videos/{pending}"))
    conforms(Video, http.patch(f"/streaming/videos/{ready}", json={"description": "typed"}))
    names = http.get("/streaming/videos/names", params={"ids": f"{ready},{pending}"})
    assert names.status_code == 200 and [n["id"] for n in names.json()] == [ready, pending]
    is_error(http.delete(f"/streaming/videos/{pending}"), 409)  # being recorded
    assert http.delete(f"/streaming/videos/{ready}").status_code == 204

    restream = conforms(
        Restream, http.post("/streaming/restreams", json={"restream": {"stream_id": sid, "uri": "rtmp://h/a/k"}}), 201
    )
    rid = restream["id"]
    conforms(Restream, http.get("/streaming/restreams"))
    conforms(Restream, http.get(f"/streaming/restreams/{rid}"))
    conforms(Restream, http.patch(f"/streaming/restreams/{rid}", json={"restream": {"active": False}}))
    assert http.delete(f"/streaming/restreams/{rid}").status_code == 204
    is_error(http.post("/streaming/restreams", json={"restream": {"stream_id": sid, "uri": "udp://h:1"}}), 422)

    frame = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T03:00:00Z"}
    for path, item in (
        ("/stream/viewers", StatisticGetLiveUniqueViewersResponseItem),
        ("/stream/watching_duration", StreamSeriesItem),
        ("/max_stream", MaxStreamSeriesItem),
        ("/stream", StreamSeriesItem),
    ):
        points = conforms_series(item, http.get(f"/streaming/statistics{path}", params=frame))
        assert [t for t, _ in points[0]["metrics"]["streams"]] == [1767225600, 1767229200, 1767232800]
    conforms(VodTotalStreamDurationSeriesItem, http.get("/streaming/statistics/stream/watching_duration/total"))
    views = conforms(
        Views, http.get("/streaming/statistics/views", params={"date_from": "2026-01-01", "date_to": "2026-01-02"})
    )
    assert views == {"data": []}
    for path in NOT_ANSWERED:
        is_error(http.get(f"/streaming/statistics{path}"), 501)

    assert http.delete(f"/streaming/streams/{sid}").status_code == 204
    is_error(http.get(f"/streaming/streams/{sid}"), 404)
    is_error(http.post("/streaming/streams", json={"name": ""}), 422)

    missing = {(method, path) for method, path, _ in http.routes} - http.hit
    assert not missing, f"routes this test does not check: {sorted(missing)}"
