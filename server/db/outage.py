"""What a database that is away looks like to the node, and one warning per outage.

PostgreSQL restarted, failed over or unreachable, SQLite locked for too long: SQLAlchemy
raises an `OperationalError` (connection refused or lost, a statement cancelled by
`statement_timeout`), an `InterfaceError` (a connection already closed), its own
`TimeoutError` (no pooled connection within `database_timeout`) or a DBAPI error that
invalidated the connection. None of them says anything about the request: the API answers
503 (`server/errors.py`) and the status writer keeps its writes for later
(`server/media/status.py`). Any other database error (a constraint, a bug) stays a 500.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("headwater.db")

# The exception classes to look at (an exception handler is registered per class).
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, PoolTimeout)
NOTICE_EVERY = 60.0  # seconds between two warnings of one kind while the database stays away
RETRY_FIRST = 0.5  # seconds before trying again while the database is away; the wait doubles
RETRY_MAX = 5.0

T = TypeVar("T")


def is_unavailable(error: BaseException) -> bool:
    """Did this fail because the database is away (not because of what was asked)?"""
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def reason(error: BaseException) -> str:
    """The driver's first line (`connection refused`, `canceling statement due to ...`)."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


class OutageNotice:
    """Logs a failing database once per NOTICE_EVERY for one kind of caller (the API, the
    status writer), not once per request: an outage under load would flood the log."""

    def __init__(self, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.clock = clock
        self.logged_at = -math.inf

    def failed(self, error: BaseException) -> None:
        now = self.clock()
        if now - self.logged_at >= NOTICE_EVERY:
            self.logged_at = now
            log.warning("database unavailable (%s): %s", self.what, reason(error))


@asynccontextmanager
async def closed_quietly(db: AsyncSession) -> AsyncIterator[AsyncSession]:
    """The session, closed after use even when the database went away meanwhile: the
    ROLLBACK that closing sends then fails (PostgreSQL shutting down terminates every
    connection), after the answer has gone out; the pool drops that connection."""
    try:
        yield db
    finally:
        try:
            await db.close()
        except Exception as error:
            if not is_unavailable(error):
                raise


async def once_it_answers(work: Callable[[], Awaitable[T]], notice: OutageNotice) -> T:
    """`work()`, tried again while it fails because the database is away (RETRY_FIRST, the
    wait doubling up to RETRY_MAX): for what the media side must write whenever it can (a
    recording's video row), not for a request, which answers 503 at once."""
    delay = RETRY_FIRST
    while True:
        try:
            return await work()
        except DATABASE_ERRORS as error:
            if not is_unavailable(error):
                raise
            notice.failed(error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX)
