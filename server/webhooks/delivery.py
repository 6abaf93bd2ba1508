"""The node's one webhook delivery task: reads the outbox, POSTs each event, deletes what the
receiver took.

- In order per entity (a stream, a video, a restream): an entity's events go one after the
  other, and one that fails blocks that entity's later events (they wait behind its retry);
  other entities go on. Up to CONCURRENCY entities are sent at once.
- Retries back off exponentially (`webhook_retry_first`, doubling, at most `webhook_retry_cap`
  between tries); an event still undelivered `webhook_give_up_after` (24 h) after it was
  written is marked dead, logged once, and its entity goes on.
- At least once: a row is deleted after its 2xx, so a node stopped in between sends it again
  (same `X-Headwater-Event-Id`). A node restart resumes from the table.
- One deliverer among nodes sharing a database: the node holding the `webhooks` lease
  (server/cluster/) delivers; the others' tasks look again every IDLE_POLL, and take over
  within a lease's time when that node dies.
- Off the hot paths: one task, woken when an event commits (`Outbox.added`) or a retry is due;
  SQL in batches (one read of up to BATCH rows, one commit for their outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.cluster.cluster import Cluster
from server.db.models import WebhookEvent
from server.db.outage import OutageNotice, is_unavailable
from server.db.webhook_events import Failure, WebhookEventRepository
from server.settings import Settings
from server.webhooks.outbox import Outbox
from server.webhooks.signing import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signature

log = logging.getLogger("headwater.webhooks")

BATCH = 1000  # events read per round
CONCURRENCY = 8  # entities sent at once, one HTTP client (one kept connection) each
IDLE_POLL = 5.0  # seconds between looks at the table when nothing woke the task (another node's events)
USER_AGENT = "Headwater-Webhooks/1"
WEBHOOK_LEASE = "webhooks"  # the lease of the node that delivers, among those sharing the database


class WebhookDelivery:
    def __init__(
        self,
        settings: Settings,
        db_sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        clock: Callable[[], float] = time.time,
        cluster: Cluster | None = None,
    ) -> None:
        assert settings.webhook_url is not None
        self.url = settings.webhook_url
        self.secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else None
        self.settings = settings
        self.db_sessions = db_sessions
        self.outbox = outbox
        self.clock = clock
        self.cluster = cluster
        self.outage = OutageNotice("webhooks wait in the outbox")
        # One client per sender: httpx's pool scans its connections at every request, and one
        # client with 32 connections sent 8x fewer requests/s than 4 (bench.webhook_drain).
        self.clients: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.failing = False  # the receiver's last answer was a failure (logged once until it recovers)
        self.delivered = 0  # events the receiver took since start

    def start(self) -> None:
        # httpx logs every request at INFO with its URL, which may carry the receiver's credential
        logging.getLogger("httpx").setLevel(logging.WARNING)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        for _ in range(CONCURRENCY):
            client = httpx.AsyncClient(timeout=self.settings.webhook_timeout, limits=limits, trust_env=False)
            self.clients.put_nowait(client)
        self.task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        while not self.clients.empty():
            await self.clients.get_nowait().aclose()

    async def _run(self) -> None:
        while True:
            self.outbox.added.clear()
            try:
                if not await self._delivering_here():
                    pause = IDLE_POLL
                elif await self._round():
                    continue
                else:
                    pause = await self._pause()
            except Exception as error:
                if is_unavailable(error):
                    self.outage.failed(error)  # events wait in the table for the database
                else:
                    log.exception("webhook delivery round failed; trying again in %s s", IDLE_POLL)
                pause = IDLE_POLL
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outbox.added.wait(), pause)

    async def _delivering_here(self) -> bool:
        """Whether this node is the one that delivers (it holds, or now takes, the lease)."""
        if self.cluster is None:
            return True
        holder = await self.cluster.claim(WEBHOOK_LEASE, lambda: True, lambda key: None)
        return holder == self.cluster.node_id

    async def _round(self) -> bool:
        """Send what is due; False when nothing was."""
        async with self.db_sessions() as db:
            rows = await WebhookEventRepository(db).due(self.clock(), BATCH)
        if not rows:
            return False
        chains: dict[str, list[WebhookEvent]] = {}
        for row in rows:
            chains.setdefault(row.entity, []).append(row)
        delivered: list[int] = []
        failures: list[Failure] = []
        await asyncio.gather(*(self._send_chain(chain, delivered, failures) for chain in chains.values()))
        async with self.db_sessions() as db:
            await WebhookEventRepository(db).settle(delivered, failures)
        self.delivered += len(delivered)
        return True

    async def _send_chain(self, chain: Sequence[WebhookEvent], delivered: list[int], failures: list[Failure]) -> None:
        """One entity's events in order, up to the first that fails, on a client of its own."""
        client = await self.clients.get()
        try:
            for row in chain:
                error = await self._post(client, row)
                if error is not None:
                    failures.append(self._failure(row, error))
                    return
                delivered.append(row.id)
                if self.failing:
                    self.failing = False
                    log.info("webhook receiver answers again")
        finally:
            self.clients.put_nowait(client)

    async def _post(self, client: httpx.AsyncClient, row: WebhookEvent) -> str | None:
        """None when the receiver took it (2xx), else what went wrong."""
        body = row.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: str(row.id),
            EVENT_TYPE_HEADER: row.type,
        }
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = signature(self.secret, int(self.clock()), body)
        try:
            answer = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code}"

    def _failure(self, row: WebhookEvent, error: str) -> Failure:
        attempts = row.attempts + 1
        now = self.clock()
        if now - row.created_at >= self.settings.webhook_give_up_after:
            log.error(
                "webhook %s (%s, %s) undelivered after %d attempts in %.0f s; giving up on it: %s",
                row.id, row.type, row.entity, attempts, now - row.created_at, error,
            )  # fmt: skip
            return Failure(row.id, attempts, error, None, True)
        if not self.failing:
            self.failing = True
            log.warning("webhook receiver failed (%s); events are kept and retried with backoff", error)
        wait = min(self.settings.webhook_retry_first * 2 ** min(attempts - 1, 30), self.settings.webhook_retry_cap)
        return Failure(row.id, attempts, error, now + wait, False)

    async def _pause(self) -> float:
        """Seconds until the soonest retry, at most IDLE_POLL."""
        async with self.db_sessions() as db:
            soonest = await WebhookEventRepository(db).next_retry()
        if soonest is None:
            return IDLE_POLL
        return max(0.0, min(IDLE_POLL, soonest - self.clock()))
