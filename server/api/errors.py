"""Errors the control API answers, shaped so every client sees which field was wrong."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def unprocessable(field: str, message: str) -> RequestValidationError:
    """A 422 naming `field`, for checks that need more than one field or the database."""
    return RequestValidationError(
        [{"loc": ("body", field), "msg": message, "type": "value_error", "input": None}]
    )


def not_found(kind: str, ident: int) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{kind} {ident} not found")


def field_name(loc: tuple) -> str:
    """`("body", "stream", "dvr_duration")` → `"stream.dvr_duration"`."""
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 listing each offending field by name, with a readable one-line `message`."""
    errors = exc.errors()
    by_field = {field_name(tuple(e["loc"])): _plain(e["msg"]) for e in errors}
    return JSONResponse(
        status_code=422,
        content={
            "message": "; ".join(f"{field}: {msg}" for field, msg in by_field.items()),
            "errors": by_field,
            "detail": [
                {"loc": list(e["loc"]), "msg": _plain(e["msg"]), "type": e["type"]}
                for e in errors
            ],
        },
    )


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")
