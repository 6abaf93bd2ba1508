"""Overlays through the Gcore SDK, with Gcore's size and position limits."""

from __future__ import annotations

import gcore
import pytest
from gcore import Gcore


@pytest.fixture
def stream_id(client: Gcore) -> int:
    return client.streaming.streams.create(name="with overlays", html_overlay=True).id


def test_create_list_get_update_delete(client: Gcore, stream_id):
    overlays = client.streaming.streams.overlays
    created = overlays.create(
        stream_id,
        body=[
            {"url": "https://widgets.example/score.html", "width": 640, "height": 120, "x": 10, "y": 20},
            {"url": "http://widgets.example/full.html", "stretch": True},
        ],
    )
    assert [o.stream_id for o in created] == [stream_id, stream_id]
    first, second = created
    assert (first.width, first.height, first.x, first.y, first.stretch) == (640, 120, 10, 20, False)
    assert second.stretch is True and second.width is None
    assert [o.id for o in overlays.list(stream_id)] == [first.id, second.id]
    assert overlays.get(first.id, stream_id=stream_id).url == "https://widgets.example/score.html"

    moved = overlays.update(first.id, stream_id=stream_id, x=1919, y=1079)
    assert (moved.x, moved.y, moved.width) == (1919, 1079, 640)

    bulk = overlays.update_multiple(
        stream_id, body=[{"id": first.id, "width": 1920}, {"id": second.id, "url": "https://w.example/2"}]
    )
    assert {o.id: o.width for o in bulk}[first.id] == 1920
    assert {o.id: o.url for o in bulk}[second.id] == "https://w.example/2"

    stream = client.streaming.streams.get(stream_id)
    assert [o.id for o in stream.html_overlays] == [first.id, second.id]

    overlays.delete(first.id, stream_id=stream_id)
    assert [o.id for o in overlays.list(stream_id)] == [second.id]
    with pytest.raises(gcore.NotFoundError):
        overlays.get(first.id, stream_id=stream_id)


@pytest.mark.parametrize(
    ("overlay", "field"),
    [
        ({"url": "ftp://x.example/a"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://x.example", "width": 0}, "width"),
        ({"url": "https://x.example", "width": 1921}, "width"),
        ({"url": "https://x.example", "height": 1081}, "height"),
        ({"url": "https://x.example", "x": 1920}, "x"),
        ({"url": "https://x.example", "y": -1}, "y"),
        ({"url": "https://x.example", "stretch": True, "x": 5}, "stretch"),
        ({"width": 10}, "url"),
    ],
)
def test_limits(http, stream_id, overlay, field):
    response = http.post(f"/streaming/streams/{stream_id}/overlays", json=[overlay])
    assert response.status_code == 422, response.text
    assert any(name.endswith(field) for name in response.json()["errors"]), response.json()
    assert http.get(f"/streaming/streams/{stream_id}/overlays").json() == []


def test_update_cannot_combine_stretch_with_position(http, client: Gcore, stream_id):
    overlay = client.streaming.streams.overlays.create(stream_id, body=[{"url": "https://w.example", "x": 1, "y": 1}])[
        0
    ]
    response = http.patch(f"/streaming/streams/{stream_id}/overlays/{overlay.id}", json={"stretch": True})
    assert response.status_code == 422 and "stretch" in response.json()["errors"]
    unset = {"stretch": True, "x": None, "y": None}
    response = http.patch(f"/streaming/streams/{stream_id}/overlays/{overlay.id}", json=unset)
    assert response.status_code == 200 and response.json()["stretch"] is True


def test_overlay_of_another_stream_is_404(client: Gcore, http, stream_id):
    other = client.streaming.streams.create(name="other").id
    overlay = client.streaming.streams.overlays.create(stream_id, body=[{"url": "https://w.example"}])[0]
    assert http.get(f"/streaming/streams/{other}/overlays/{overlay.id}").status_code == 404
    assert http.delete(f"/streaming/streams/{other}/overlays/{overlay.id}").status_code == 404


def test_deleting_a_stream_deletes_its_overlays(client: Gcore, http, stream_id):
    overlay = client.streaming.streams.overlays.create(stream_id, body=[{"url": "https://w.example"}])[0]
    client.streaming.streams.delete(stream_id)
    assert http.get(f"/streaming/streams/{stream_id}/overlays/{overlay.id}").status_code == 404
