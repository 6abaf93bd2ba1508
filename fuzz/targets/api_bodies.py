"""The JSON bodies of the stream and overlay routes, validated as FastAPI does (json.loads,
then the route's pydantic type). The first byte picks the body; the rest is the JSON.

The property: a 4xx (invalid JSON: FastAPI answers 400/422; a ValidationError: 422) or a
valid model whose every integer fits the database column it goes into (a value the column
cannot hold was a 500 from the database)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import BigInteger, Integer

from fuzz.target import Target
from server.api.overlays import OverlayBulkChange, OverlayCreate, OverlayFields
from server.api.stream_fields import StreamCreate, StreamUpdate
from server.db import models

BODIES: list[tuple[TypeAdapter[Any], type]] = [
    (TypeAdapter(StreamCreate), models.Stream),
    (TypeAdapter(StreamUpdate), models.Stream),
    (TypeAdapter(list[OverlayCreate]), models.Overlay),
    (TypeAdapter(list[OverlayBulkChange]), models.Overlay),
    (TypeAdapter(OverlayFields), models.Overlay),
]
RANGES = {Integer: 2**31, BigInteger: 2**63}


def fits(model: BaseModel, table: type) -> None:
    """Every integer field the client sent fits its column (an `id` too: it is looked up)."""
    if hasattr(model, "stream"):
        model = model.stream
    for name in model.model_fields_set:
        value = getattr(model, name)
        column = table.__table__.columns.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or column is None:
            continue
        bound = RANGES.get(type(column.type), 2**31)
        assert -bound <= value < bound, f"{table.__name__}.{name} = {value} does not fit {column.type}"


def one(data: bytes) -> None:
    if not data:
        return
    adapter, table = BODIES[data[0] % len(BODIES)]
    try:
        body = json.loads(data[1:])
    except (ValueError, RecursionError):
        return  # FastAPI: 422 for a JSON error, 400 for any other parse failure
    parsed = adapter.validate_python(body)
    for model in parsed if isinstance(parsed, list) else [parsed]:
        fits(model, table)


TARGET = Target("api_bodies", one, (ValidationError,))
