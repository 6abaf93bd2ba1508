"""Pull streams no node runs, claimed by this one: a dead node's pulls move to the living.

Every few seconds each node of a shared database looks for active pull streams whose lease is
missing or expired and claims a few in ONE transaction: `SELECT … FOR UPDATE OF streams SKIP
LOCKED` picks rows no other node is looking at this moment (two nodes scanning together get
different streams instead of queueing on the same rows), then the lease upsert
(leases.py's CLAIM, atomic on its own) takes each for this node before the row locks go.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.leases import CLAIM

ORPHANS = text(
    """
    SELECT streams.id FROM streams
    WHERE streams.pull AND streams.active AND streams.uri IS NOT NULL AND streams.uri <> ''
      AND NOT EXISTS (
        SELECT 1 FROM leases WHERE leases.key = :prefix || streams.id AND leases.expires_at >= now()
      )
    ORDER BY streams.id
    LIMIT :limit
    FOR UPDATE OF streams SKIP LOCKED
    """
)


async def claim_orphan_pulls(
    db_sessions: async_sessionmaker[AsyncSession], node_id: str, ttl: float, prefix: str, limit: int
) -> list[int]:
    """Ids of up to `limit` pull streams nobody ran, whose lease is now this node's."""
    won = []
    async with db_sessions() as db:
        ids = (await db.scalars(ORPHANS, {"prefix": prefix, "limit": limit})).all()
        for stream_id in ids:
            holder = await db.scalar(CLAIM, {"key": f"{prefix}{stream_id}", "node": node_id, "ttl": ttl})
            if holder == node_id:
                won.append(int(stream_id))
        await db.commit()
    return won
