"""What every control route may depend on: a DB session, the settings, the API-key check,
paging, signing playback URLs, and telling the media side that a stream changed."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from math import ceil
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.outage import closed_quietly
from server.db.paging import Page
from server.errors import Forbidden, TooManyRequests, Unauthorized
from server.failed_attempts import API, FailedAttempts
from server.settings import Settings
from server.urls import PlaybackToken, unsigned

SCHEME = "apikey"
DEFAULT_PER_PAGE = 25
TOTAL_HEADER = "X-Total-Count"


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with closed_quietly(request.app.state.db_sessions()) as db:
        yield db


def settings(request: Request) -> Settings:
    config: Settings = request.app.state.settings
    return config


def playback_token(request: Request) -> PlaybackToken:
    """Signs the playback URLs of an answer (signing off: leaves them as they are). With
    the address signed too, the URLs are for the address that asked the API."""
    tokens = request.app.state.playback_tokens
    if tokens is None:
        return unsigned
    address = request.client.host if request.client else None
    now = time.time()
    return lambda prefix: tokens.token(prefix, address, now)


def require_api_key(request: Request) -> None:
    """`Authorization: APIKey <key>`: 401 when absent or malformed, 403 when wrong."""
    failed_attempts: FailedAttempts = request.app.state.failed_attempts
    address = request.client.host if request.client else "?"
    if failed_attempts.blocked(API, address):
        retry = failed_attempts.retry_after(API, address)
        raise TooManyRequests(
            "Too many failed API keys from this address: retry later", headers={"Retry-After": str(ceil(retry))}
        )
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != SCHEME or not credential.strip():
        failed_attempts.failed(API, address)
        raise Unauthorized(
            "Missing credentials: send 'Authorization: APIKey <key>'", headers={"WWW-Authenticate": "APIKey"}
        )
    expected: str = request.app.state.api_key
    if not hmac.compare_digest(credential.strip().encode(), expected.encode()):
        failed_attempts.failed(API, address)
        raise Forbidden("Invalid API key")


Authorized = Depends(require_api_key)


def page_params(
    page: int = Query(1, ge=1, description="Page number, from 1"),
    per_page: int = Query(DEFAULT_PER_PAGE, ge=1, le=1000, description="Items per page"),
) -> Page:
    """Page-numbered lists, as the Gcore API pages them: `?page=N&per_page=M`."""
    return Page(page, per_page)


def with_total(response: Response, total: int) -> None:
    """The total number of rows in `X-Total-Count`, as Gcore answers a list."""
    response.headers[TOTAL_HEADER] = str(total)


async def notify_media(request: Request, stream_id: int) -> None:
    """Tell the media side a stream's configuration changed (deactivated, deleted, pull, ...)."""
    media = getattr(request.app.state, "media", None)
    if media is not None:
        await media.stream_changed(stream_id)


# What a route declares as a parameter to be handed these (`db: DB`, `config: Config`, `page: Paging`).
DB = Annotated[AsyncSession, Depends(db_session)]
Config = Annotated[Settings, Depends(settings)]
Paging = Annotated[Page, Depends(page_params)]
Playback = Annotated[PlaybackToken, Depends(playback_token)]
