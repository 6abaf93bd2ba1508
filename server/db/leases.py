"""Leases: one holder among the nodes for a key (a live stream's output), until an expiry.

On PostgreSQL every claim is one atomic statement: an upsert that takes the row only when it
is free, expired or already ours (`INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`).
PostgreSQL locks the conflicting row and evaluates the WHERE on its newest version, so two
nodes racing for one key can never both get a row back. Expiries are on the database's clock
(`now()`), so the nodes' own clocks never matter. On SQLite the node is alone: `LocalLeases`
grants every claim without SQL.
"""

from __future__ import annotations

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

CLAIM = text(
    """
    INSERT INTO leases (key, node_id, expires_at)
    VALUES (:key, :node, now() + :ttl * interval '1 second')
    ON CONFLICT (key) DO UPDATE SET node_id = excluded.node_id, expires_at = excluded.expires_at
    WHERE leases.node_id = excluded.node_id OR leases.expires_at < now()
    RETURNING node_id
    """
)
HOLDER = text("SELECT node_id FROM leases WHERE key = :key AND expires_at >= now()")
RELEASE = text("DELETE FROM leases WHERE key = :key AND node_id = :node")
# A lease nobody took over stays ours even if it expired meanwhile (a node stalled past the
# TTL): whoever takes an expired lease changes its node_id.
RENEW = text(
    "UPDATE leases SET expires_at = now() + :ttl * interval '1 second' "
    "WHERE node_id = :node AND key IN :keys RETURNING key"
).bindparams(bindparam("keys", expanding=True))
HELD_ELSEWHERE = text("SELECT key, node_id FROM leases WHERE node_id <> :node AND expires_at >= now()")


class SharedLeases:
    """Leases in the shared PostgreSQL, claimed for node `node_id` for `ttl` seconds."""

    def __init__(self, db_sessions: async_sessionmaker[AsyncSession], node_id: str, ttl: float) -> None:
        self.db_sessions = db_sessions
        self.node_id = node_id
        self.ttl = ttl

    async def claim(self, key: str) -> str | None:
        """Take or renew the lease; the node that holds it afterwards (ours when won; None when
        the holder let go between our two statements: claim again)."""
        async with self.db_sessions() as db:
            won = await db.scalar(CLAIM, {"key": key, "node": self.node_id, "ttl": self.ttl})
            await db.commit()
            if won is not None:
                return str(won)
            holder = await db.scalar(HOLDER, {"key": key})
        return None if holder is None else str(holder)

    async def holder(self, key: str) -> str | None:
        """The node holding an unexpired lease on `key`, if any."""
        async with self.db_sessions() as db:
            holder = await db.scalar(HOLDER, {"key": key})
        return None if holder is None else str(holder)

    async def release(self, key: str) -> None:
        async with self.db_sessions() as db:
            await db.execute(RELEASE, {"key": key, "node": self.node_id})
            await db.commit()

    async def renew(self, db: AsyncSession, keys: set[str]) -> set[str]:
        """Extend our leases on `keys` (in the caller's transaction); the ones still ours."""
        if not keys:
            return set()
        rows = await db.scalars(RENEW, {"keys": sorted(keys), "node": self.node_id, "ttl": self.ttl})
        return {str(key) for key in rows}

    async def held_elsewhere(self) -> dict[str, str]:
        """Every unexpired lease another node holds: key → node."""
        async with self.db_sessions() as db:
            rows = (await db.execute(HELD_ELSEWHERE, {"node": self.node_id})).all()
        return {str(key): str(node) for key, node in rows}


class LocalLeases:
    """One node alone (SQLite): every claim is granted, nothing is stored."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.held: set[str] = set()

    async def claim(self, key: str) -> str | None:
        self.held.add(key)
        return self.node_id

    async def holder(self, key: str) -> str | None:
        return self.node_id if key in self.held else None

    async def release(self, key: str) -> None:
        self.held.discard(key)

    async def renew(self, db: AsyncSession, keys: set[str]) -> set[str]:
        return set(keys)

    async def held_elsewhere(self) -> dict[str, str]:
        return {}
