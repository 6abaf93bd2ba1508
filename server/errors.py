"""Every error the node answers over HTTP, and the one handler that renders them.

Whatever goes wrong in a request (a bad field, an unknown id, a wrong key, a refused WHIP
offer), the code raises a `HeadwaterError` (or a subclass) and `answer_error` turns it into
one JSON shape: the HTTP status, a one-line `message`, and the offending fields by name, as
the Gcore Streaming API answers (`{"errors": {"dvr_duration": "…"}}`, see README):

    {"status": 422, "message": "dvr_duration: …", "errors": {"dvr_duration": "…"}}

`errors` is empty when no field is to blame (404, 401, …). Gcore's SDK keeps such a body whole
(`gcore.APIStatusError.body`) and picks its exception class by status alone. FastAPI's own
errors (an invalid body, an unknown path) are turned into the same shape, and so is a database
that is away (`server/db/outage.py`): 503 with `Retry-After`, whatever the route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.db.outage import DATABASE_ERRORS, OutageNotice, is_unavailable

RETRY_AFTER = "5"  # seconds, for a client told the database is away
API_OUTAGE = OutageNotice("API requests answer 503")


class ErrorBody(BaseModel):
    """What every error answers (the OpenAPI schema of every 4xx/5xx)."""

    status: int
    message: str
    errors: dict[str, str]  # offending field → what is wrong with it; empty when no field is to blame


# For a router's `responses=`: the control API's errors in /openapi.json (instead of FastAPI's
# `HTTPValidationError`, which the node never answers).
def error_responses(*documented: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": description} for status, description in documented}


ERROR_RESPONSES = error_responses(
    (400, "Not possible in the resource's state"),
    (401, "No API key"),
    (403, "Wrong API key"),
    (404, "Unknown id"),
    (422, "Invalid fields, each named in `errors`"),
)


class HeadwaterError(Exception):
    """An error with the HTTP status and message the client gets (500 unless a subclass says)."""

    status = 500

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, "errors": self.errors}


class BadRequest(HeadwaterError):
    status = 400


class Unauthorized(HeadwaterError):
    status = 401


class Forbidden(HeadwaterError):
    status = 403


class TooManyRequests(HeadwaterError):
    status = 429


class NotFound(HeadwaterError):
    status = 404

    def __init__(self, kind: str, ident: int | str) -> None:
        super().__init__(f"{kind} {ident} not found")


class Conflict(HeadwaterError):
    status = 409


class Unavailable(HeadwaterError):
    status = 503


class NotImplementedHere(HeadwaterError):
    """501: a Gcore route whose data a self-hosted origin does not have (CDN-wide or
    player-side statistics)."""

    status = 501


class InvalidFields(HeadwaterError):
    """422 naming each offending field (`stream.dvr_duration`, `0.stretch`, `live.id`, …)."""

    status = 422

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()), errors=errors)


def invalid_field(field: str, message: str) -> InvalidFields:
    """A 422 for a check that needs more than one field or the database."""
    return InvalidFields({field: message})


def field_name(loc: Sequence[int | str]) -> str:
    """`("body", "stream", "dvr_duration")` → `"stream.dvr_duration"`."""
    return ".".join(str(part) for part in loc if part != "body") or "body"


def from_validation(exc: RequestValidationError) -> InvalidFields:
    """FastAPI's request validation (body, path, query) as a 422 naming each field."""
    return InvalidFields({field_name(e["loc"]): str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()})


def from_starlette(exc: StarletteHTTPException) -> HeadwaterError:
    """Starlette's own answers (unknown path, method not allowed) in the same shape."""
    return HeadwaterError(str(exc.detail), status=exc.status_code, headers=exc.headers)


async def answer_error(_request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler: any error a request raises, in the one JSON shape."""
    if isinstance(exc, RequestValidationError):
        exc = from_validation(exc)
    elif isinstance(exc, StarletteHTTPException):
        exc = from_starlette(exc)
    elif is_unavailable(exc):
        API_OUTAGE.failed(exc)
        exc = Unavailable("database unavailable; try again shortly", headers={"Retry-After": RETRY_AFTER})
    if not isinstance(exc, HeadwaterError):
        raise exc
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


def install(app: FastAPI) -> None:
    for kind in (HeadwaterError, RequestValidationError, StarletteHTTPException, *DATABASE_ERRORS):
        app.add_exception_handler(kind, answer_error)
