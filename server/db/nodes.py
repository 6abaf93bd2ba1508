"""The `nodes` table: each node's id, public HTTP URL and heartbeat (the database's clock).

One SQL text for SQLite and PostgreSQL (`CURRENT_TIMESTAMP`, upsert with `excluded`): on
SQLite the one node registers too, so the table says the same thing on both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

REGISTER = text(
    """
    INSERT INTO nodes (id, http_url, started_at, last_seen)
    VALUES (:id, :url, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)
    ON CONFLICT (id) DO UPDATE
    SET http_url = excluded.http_url, started_at = excluded.started_at, last_seen = excluded.last_seen
    """
)
HEARTBEAT = text("UPDATE nodes SET last_seen = CURRENT_TIMESTAMP WHERE id = :id")
# PostgreSQL only (the leases are; see leases.py): the public URL of the node holding `key`.
HOLDER_URL = text(
    "SELECT nodes.id, nodes.http_url FROM leases JOIN nodes ON nodes.id = leases.node_id "
    "WHERE leases.key = :key AND leases.expires_at >= now()"
)


async def register(db: AsyncSession, node_id: str, http_url: str) -> None:
    await db.execute(REGISTER, {"id": node_id, "url": http_url})
    await db.commit()


async def beat(db: AsyncSession, node_id: str, renew: Callable[[], Awaitable[set[str]]]) -> set[str]:
    """The heartbeat and the lease renewal (`renew`, in the same session) in one commit: what
    `renew` kept."""
    await db.execute(HEARTBEAT, {"id": node_id})
    kept = await renew()
    await db.commit()
    return kept


async def holder_url(db: AsyncSession, key: str) -> tuple[str, str] | None:
    """(node id, public HTTP URL) of the node holding an unexpired lease on `key`."""
    row = (await db.execute(HOLDER_URL, {"key": key})).first()
    return None if row is None else (str(row[0]), str(row[1]))
