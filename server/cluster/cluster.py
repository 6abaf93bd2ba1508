"""This node among the nodes sharing one database: its id, its heartbeat, the leases it holds.

Every `lease_ttl / 3` seconds one transaction (`beat`) updates the node's heartbeat and
renews all its leases: two statements whatever the number of streams, so the database's load
per live stream at steady state is nil here (its status writes are server/media/status.py's).
A lease another node took meanwhile (this node stalled past the TTL) is lost: its `lost`
callback stops whatever this node runs under it. A lease is let go as soon as nothing needs
it any more (`let_go`), and the beat sweeps any that an admission claimed and never used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db import nodes
from server.db.leases import LocalLeases, SharedLeases
from server.db.outage import OutageNotice, is_unavailable
from server.settings import Settings

log = logging.getLogger("headwater.cluster")


def stream_key(stream_id: int) -> str:
    """The lease of a live stream's output: its one owner among the nodes."""
    return f"stream/{stream_id}"


def slot_key(stream_id: int, slot: str) -> str:
    """The lease of a stream's publisher slot (main, backup): one publisher per slot among
    the nodes, wherever the stream's output runs."""
    return f"stream/{stream_id}/{slot}"


@dataclass
class Held:
    needed: Callable[[], bool]  # False once nothing on this node runs under the lease
    lost: Callable[[str], None]  # called with the key when another node took it


class Cluster:
    def __init__(self, settings: Settings, db_sessions: async_sessionmaker[AsyncSession]) -> None:
        self.node_id = settings.resolved_node_id
        self.http_url = settings.node_base_url
        self.db_sessions = db_sessions
        self.shared = settings.shared_database
        self.leases: SharedLeases | LocalLeases = (
            SharedLeases(db_sessions, self.node_id, settings.lease_ttl) if self.shared else LocalLeases(self.node_id)
        )
        self.interval = settings.lease_ttl / 3
        self.held: dict[str, Held] = {}
        self.lock = asyncio.Lock()  # a claim and a let-go of one key never interleave
        self.task: asyncio.Task[None] | None = None
        self.outage = OutageNotice("node heartbeat and leases")

    async def start(self) -> None:
        async with self.db_sessions() as db:
            await nodes.register(db, self.node_id, self.http_url)
        log.info("node %s (%s)%s", self.node_id, self.http_url, " sharing its database" if self.shared else "")
        if self.shared:
            self.task = asyncio.create_task(self._beating())

    async def claim(self, key: str, needed: Callable[[], bool], lost: Callable[[str], None]) -> str | None:
        """Take (or keep) the lease on `key`; the node holding it afterwards (this one when won)."""
        async with self.lock:
            holder = await self.leases.claim(key)
            if holder == self.node_id:
                self.held[key] = Held(needed, lost)
        return holder

    async def let_go(self, key: str) -> None:
        """Release the lease unless something on this node still needs it (also one claimed
        without `claim`: server/db/orphan_pulls.py)."""
        async with self.lock:
            held = self.held.get(key)
            if held is not None and held.needed():
                return
            self.held.pop(key, None)
            await self.leases.release(key)

    async def holder(self, key: str) -> str | None:
        return await self.leases.holder(key)

    async def held_elsewhere(self) -> dict[str, str]:
        return await self.leases.held_elsewhere()

    async def holder_url(self, key: str) -> tuple[str, str] | None:
        """(node id, public URL) of the node holding `key`; None on a node alone."""
        if not self.shared:
            return None
        async with self.db_sessions() as db:
            return await nodes.holder_url(db, key)

    async def beat(self) -> None:
        """The heartbeat and every lease renewed, in one transaction; lost leases reported."""
        keys = set(self.held)
        async with self.db_sessions() as db:
            kept = await nodes.beat(db, self.node_id, lambda: self.leases.renew(db, keys))
        for key in keys - kept:
            held = self.held.pop(key, None)
            if held is not None:
                log.warning("lease %s lost: another node took it while this one was too slow to renew", key)
                held.lost(key)
        for key in [key for key, held in self.held.items() if not held.needed()]:
            await self.let_go(key)

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except Exception as error:
                if not is_unavailable(error):
                    log.exception("node heartbeat failed")
                    continue
                self.outage.failed(error)  # one line per outage; its leases lapse meanwhile

    async def close(self) -> None:
        """Stop beating and release every lease: the other nodes may take them at once."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        for key in list(self.held):
            self.held.pop(key)
            try:
                await self.leases.release(key)
            except Exception:
                log.exception("releasing lease %s failed", key)


class OwnedElsewhere(Exception):
    """Another node holds the lease: it runs the stream, this node must not."""

    def __init__(self, key: str, holder: str | None) -> None:
        super().__init__(f"{key} is held by node {holder or '(another node, just released)'}")
        self.key = key
        self.holder = holder
