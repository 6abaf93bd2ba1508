"""Engines for the one configured database URL: async for the node, sync for Alembic."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def sync_url(url: str) -> str:
    """The URL with a synchronous driver (Alembic, CLI)."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    elif u.get_backend_name() == "sqlite":
        u = u.set(drivername="sqlite")
    return u.render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """The URL with an asyncio driver (the node's requests never block its loop on SQL)."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    elif u.get_backend_name() == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    return u.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL with `synchronous=NORMAL`, as SQLite recommends for WAL: a commit never corrupts
    the database and survives a crash of the process; only a power cut may lose the last
    commits before it. With FULL every commit was an fdatasync plus a device cache flush;
    the node commits every stream's status each second, and at 30 streams those flushes
    stalled the workers' media writes in the same filesystem by tens of milliseconds."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # see `_sqlite_pragmas.__doc__`
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine_for(url: str, timeout: float = 5.0) -> AsyncEngine:
    """The node's engine. `timeout` bounds every wait on the database: a server that is gone
    or frozen costs a request that long, then the API answers 503 (`server/db/outage.py`)
    instead of holding the request until the client gives up. PostgreSQL: libpq's
    `connect_timeout` (whole seconds), the pool's wait for a connection and the server's
    `statement_timeout`; SQLite: the pool's wait (its busy timeout is in the pragmas)."""
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_timeout": timeout}
    if make_url(url).get_backend_name() == "postgresql":
        options["connect_args"] = {
            "connect_timeout": max(1, round(timeout)),
            "options": f"-c statement_timeout={round(timeout * 1000)}",
        }
    engine = create_async_engine(async_url(url), **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def db_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
