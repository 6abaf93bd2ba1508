"""The API's answers to bad requests: 401/403/404/422 naming the field, never a 500."""

from __future__ import annotations

import httpx
import pytest


def test_missing_and_malformed_key_are_401(api_node):
    for headers in ({}, {"Authorization": "Bearer x"}, {"Authorization": "APIKey"}):
        response = httpx.get(f"{api_node.base_url}/streaming/streams", headers=headers)
        assert response.status_code == 401, headers


def test_wrong_key_is_403(api_node):
    response = httpx.get(f"{api_node.base_url}/streaming/streams", headers={"Authorization": "APIKey wrong"})
    assert response.status_code == 403


def test_health_needs_no_key(api_node):
    answer = httpx.get(f"{api_node.base_url}/health").json()
    assert answer["status"] == "ok" and answer["node"]  # which node answered (behind a load balancer)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "dvr_duration": 29}, "dvr_duration"),
        ({"name": "x", "dvr_duration": 14401}, "dvr_duration"),
        ({"name": "x", "projection": "vr720"}, "projection"),
        ({"name": "x", "record_type": "both"}, "record_type"),
        ({"name": "x", "pull": True}, "uri"),
        ({"name": "x", "pull": True, "uri": "ftp://host/file"}, "uri"),
        ({"name": "x", "pull": True, "uri": "rtmp://ok/live srt:nohost"}, "uri"),
        ({"name": "x", "srt_passphrase": "short"}, "srt_passphrase"),
        ({"name": "x", "srt_passphrase": "has a space in it"}, "srt_passphrase"),
        ({"name": "x", "srt_passphrase": "x" * 80}, "srt_passphrase"),  # libsrt's limit is 79
        ({"name": "x", "srt_passphrase": "pässwörtlich"}, "srt_passphrase"),
        ({"name": "x", "quality_set_id": 5}, "quality_set_id"),  # a VOD set
        ({"name": "x", "quality_set_id": 999}, "quality_set_id"),
        ({"name": "x", "client_user_id": "abc"}, "client_user_id"),
        ({"name": "x", "broadcast_ids": "1,2"}, "broadcast_ids"),
        # Beyond the column (fuzz/targets/api_bodies.py): the database's error was a 500.
        ({"name": "x", "cdn_id": 2**31}, "cdn_id"),
        ({"name": "x", "quality_set_id": -(2**31) - 1}, "quality_set_id"),
        ({"name": "x", "client_user_id": 2**63}, "client_user_id"),
    ],
)
def test_invalid_stream_bodies_name_the_field(http, body, field):
    response = http.post("/streaming/streams", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"], response.json()


def test_update_is_checked_against_the_saved_stream(http):
    stream = http.post("/streaming/streams", json={"name": "x"}).json()
    response = http.patch(f"/streaming/streams/{stream['id']}", json={"stream": {"pull": True}})
    assert response.status_code == 422 and "uri" in response.json()["errors"]
    response = http.patch(f"/streaming/streams/{stream['id']}", json={"stream": {"dvr_duration": 1}})
    assert response.status_code == 422 and "stream.dvr_duration" in response.json()["errors"]
    assert http.get(f"/streaming/streams/{stream['id']}").json()["pull"] is False


def test_an_overlay_id_beyond_its_column_is_422(http):
    stream = http.post("/streaming/streams", json={"name": "x"}).json()
    response = http.patch(f"/streaming/streams/{stream['id']}/overlays", json=[{"id": 2**32, "x": 1}])
    assert response.status_code == 422, response.text


def test_live_paths_whose_id_int_refuses_are_404(http):
    """Ids `int` refuses: "²" (it passes `str.isdigit`; the ASGI app gets the path
    percent-decoded) and more than 4300 digits (fuzz/targets/hls_query.py)."""
    for path in ("/live/%C2%B2/index.m3u8", "/live/" + "9" * 4301 + "/index.m3u8"):
        assert http.get(path).status_code == 404, path


def test_unknown_ids_are_404(http):
    assert http.get("/streaming/streams/424242").status_code == 404
    assert http.patch("/streaming/streams/424242", json={"stream": {"name": "n"}}).status_code == 404
    assert http.get("/streaming/streams/424242/overlays").status_code == 404
    assert http.get("/streaming/videos/424242").status_code == 404


def test_garbage_bodies_are_422_not_500(http):
    for content in (b"not json", b"[]", b'{"name": {"nested": 1}}'):
        response = http.post("/streaming/streams", content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (content, response.text)
    assert http.get("/streaming/streams", params={"page": 0}).status_code == 422
    assert http.get("/streaming/streams/not-a-number").status_code == 422


def test_openapi_docs_are_served(api_node):
    assert httpx.get(f"{api_node.base_url}/docs").status_code == 200
    paths = httpx.get(f"{api_node.base_url}/openapi.json").json()["paths"]
    assert "/streaming/streams/{stream_id}/overlays" in paths


def test_every_error_has_one_shape(api_node, http):
    """status + message + the offending fields, whoever raised it (route, FastAPI, Starlette)."""
    unauthenticated = httpx.get(f"{api_node.base_url}/streaming/streams")
    assert unauthenticated.headers["WWW-Authenticate"] == "APIKey"
    answers = {
        401: unauthenticated,
        403: httpx.get(f"{api_node.base_url}/streaming/streams", headers={"Authorization": "APIKey no"}),
        404: http.get("/streaming/streams/424242"),
        405: http.put("/streaming/streams"),
        422: http.post("/streaming/streams", json={"name": "x", "dvr_duration": 1}),
    }
    for status, response in answers.items():
        body = response.json()
        assert response.status_code == status and set(body) == {"status", "message", "errors"}, body
        assert body["status"] == status and body["message"], body
    assert http.get("/no/such/path").json()["status"] == 404
    invalid = answers[422].json()
    assert list(invalid["errors"]) == ["dvr_duration"] and "dvr_duration" in invalid["message"], invalid
    assert answers[404].json() == {"status": 404, "message": "Stream 424242 not found", "errors": {}}
