"""Dependencies every control route shares: the DB session and the API-key check."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

from fastapi import Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from server.settings import Settings

SCHEME = "apikey"


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def settings(request: Request) -> Settings:
    return request.app.state.settings


def require_api_key(request: Request) -> None:
    """`Authorization: APIKey <key>`: 401 when absent or malformed, 403 when wrong."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != SCHEME or not credential.strip():
        raise HTTPException(
            status_code=401,
            detail="Missing credentials: send 'Authorization: APIKey <key>'",
            headers={"WWW-Authenticate": "APIKey"},
        )
    expected: str = request.app.state.api_key
    if not hmac.compare_digest(credential.strip().encode(), expected.encode()):
        raise HTTPException(status_code=403, detail="Invalid API key")


Authorized = Depends(require_api_key)
