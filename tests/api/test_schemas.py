"""The API's response models against the official SDK's types, and /openapi.json against both.

A field the SDK reads but the API does not declare would be missing from /openapi.json (and
from the answers: FastAPI serializes through the response model); these tests name it.
"""

from __future__ import annotations

import pytest
from gcore.types.streaming import QualitySets, Restream, Stream, StreamStartRecordingResponse, Video, Views
from gcore.types.streaming.quality_sets import Live, LiveQuality, Vod, VodQuality
from gcore.types.streaming.stream_series import StreamSeriesItem
from gcore.types.streaming.streams import Clip, Overlay
from gcore.types.streaming.video import ConvertedVideo
from gcore.types.streaming.vod_total_stream_duration_series import VodTotalStreamDurationSeriesItem
from pydantic import BaseModel

from server.api import schemas
from server.app import create_app
from server.settings import Settings

PAIRS = [
    (schemas.Stream, Stream),
    (schemas.Overlay, Overlay),
    (schemas.QualitySets, QualitySets),
    (schemas.QualitySet, Live),
    (schemas.QualitySet, Vod),
    (schemas.Quality, LiveQuality),
    (schemas.Quality, VodQuality),
    (schemas.Video, Video),
    (schemas.ConvertedVideo, ConvertedVideo),
    (schemas.Clip, Clip),
    (schemas.Restream, Restream),
]


@pytest.mark.parametrize(("ours", "sdk"), PAIRS, ids=lambda t: t.__name__)
def test_response_models_have_every_sdk_field(ours: type[BaseModel], sdk: type[BaseModel]):
    missing = set(sdk.model_fields) - set(ours.model_fields)
    assert not missing, f"{ours.__name__} lacks the SDK's {sorted(missing)}"


# (method, path) → the schema its success answer is documented with, as the SDK types it.
DOCUMENTED = {
    ("post", "/streaming/streams"): ("object", "Stream"),
    ("get", "/streaming/streams"): ("array", "Stream"),
    ("get", "/streaming/streams/{stream_id}"): ("object", "Stream"),
    ("patch", "/streaming/streams/{stream_id}"): ("object", "Stream"),
    ("post", "/streaming/streams/{stream_id}/overlays"): ("array", "Overlay"),
    ("get", "/streaming/streams/{stream_id}/overlays"): ("array", "Overlay"),
    ("patch", "/streaming/streams/{stream_id}/overlays"): ("array", "Overlay"),
    ("get", "/streaming/streams/{stream_id}/overlays/{overlay_id}"): ("object", "Overlay"),
    ("patch", "/streaming/streams/{stream_id}/overlays/{overlay_id}"): ("object", "Overlay"),
    ("get", "/streaming/quality_sets"): ("object", "QualitySets"),
    ("put", "/streaming/quality_sets/default"): ("object", "QualitySets"),
    ("get", "/streaming/videos"): ("array", "Video"),
    ("get", "/streaming/videos/{video_id}"): ("object", "Video"),
    ("patch", "/streaming/videos/{video_id}"): ("object", "Video"),
    ("put", "/streaming/streams/{stream_id}/start_recording"): ("object", "StreamStartRecordingResponse"),
    ("put", "/streaming/streams/{stream_id}/stop_recording"): ("object", "Video"),
    ("put", "/streaming/streams/{stream_id}/clip_recording"): ("object", "Clip"),
    ("get", "/streaming/streams/{stream_id}/clip_recording"): ("array", "Clip"),
    ("post", "/streaming/restreams"): ("object", "Restream"),
    ("get", "/streaming/restreams"): ("array", "Restream"),
    ("get", "/streaming/restreams/{restream_id}"): ("object", "Restream"),
    ("patch", "/streaming/restreams/{restream_id}"): ("object", "Restream"),
    # every series has the one shape; the SDK names it per method (MaxStreamSeriesItem, ...)
    ("get", "/streaming/statistics/stream/viewers"): ("array", "StreamSeriesItem"),
    ("get", "/streaming/statistics/stream/watching_duration"): ("array", "StreamSeriesItem"),
    ("get", "/streaming/statistics/max_stream"): ("array", "StreamSeriesItem"),
    ("get", "/streaming/statistics/stream"): ("array", "StreamSeriesItem"),
    ("get", "/streaming/statistics/stream/watching_duration/total"): ("array", "VodTotalStreamDurationSeriesItem"),
    ("get", "/streaming/statistics/views"): ("object", "Views"),
}
SDK_TYPES = {
    "Stream": Stream,
    "Overlay": Overlay,
    "QualitySets": QualitySets,
    "Video": Video,
    "StreamStartRecordingResponse": StreamStartRecordingResponse,
    "Clip": Clip,
    "Restream": Restream,
    "StreamSeriesItem": StreamSeriesItem,
    "VodTotalStreamDurationSeriesItem": VodTotalStreamDurationSeriesItem,
    "Views": Views,
}
# Answers the SDK does not type (it returns None for them): documented with models of our own.
UNTYPED_BY_SDK = {("get", "/streaming/videos/names")}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> dict:
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi"))).openapi()


def test_openapi_documents_every_answer_with_the_sdk_fields(openapi):
    schemas_by_name = openapi["components"]["schemas"]
    answering = set()
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            content = operation["responses"].get("200", operation["responses"].get("201", {})).get("content")
            if content:
                answering.add((method, path))
    assert answering == set(DOCUMENTED) | UNTYPED_BY_SDK
    for (method, path), (shape, name) in DOCUMENTED.items():
        responses = openapi["paths"][path][method]["responses"]
        schema = (responses.get("200") or responses["201"])["content"]["application/json"]["schema"]
        if shape == "array":
            assert schema["type"] == "array", (method, path)
            schema = schema["items"]
        assert schema["$ref"] == f"#/components/schemas/{name}", (method, path)
        documented = set(schemas_by_name[name]["properties"])
        assert set(SDK_TYPES[name].model_fields) <= documented, (method, path)


def test_openapi_documents_errors_as_answered(openapi):
    """Every control route documents its errors in the one error shape, not FastAPI's."""
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    assert set(openapi["components"]["schemas"]["ErrorBody"]["properties"]) == {"status", "message", "errors"}
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            refs = {
                r["content"]["application/json"]["schema"]["$ref"]
                for status, r in operation["responses"].items()
                if status[0] in "45"
            }
            assert refs == {"#/components/schemas/ErrorBody"}, (method, path)
