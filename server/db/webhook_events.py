"""Every query of the webhooks' outbox (`webhook_events`): rows added inside the caller's
transaction, the due ones read by the delivery task, delivered ones deleted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import WebhookEvent


@dataclass(frozen=True)
class Failure:
    """A delivery that failed: retry at `next_attempt_at`, or `dead` (given up on)."""

    event_id: int
    attempts: int
    error: str
    next_attempt_at: float | None
    dead: bool


class WebhookEventRepository:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    def add(self, entity: str, kind: str, body: str, created_at: float, committed: Callable[[], None]) -> None:
        """A row in the caller's transaction (not committed here: the caller's state change and
        its event commit together); `committed` runs once the transaction commits."""
        self.db.add(WebhookEvent(entity=entity, type=kind, body=body, created_at=created_at, attempts=0))
        event.listen(self.db.sync_session, "after_commit", lambda _session: committed(), once=True)

    async def due(self, now: float, limit: int) -> Sequence[WebhookEvent]:
        """The oldest live events of every entity that is not waiting for a retry, in id order
        (an entity's failed head blocks its later events, not other entities')."""
        waiting = select(WebhookEvent.entity).where(WebhookEvent.dead.is_(False), WebhookEvent.next_attempt_at > now)
        query = (
            select(WebhookEvent)
            .where(WebhookEvent.dead.is_(False), WebhookEvent.entity.not_in(waiting))
            .order_by(WebhookEvent.id)
            .limit(limit)
        )
        rows = (await self.db.scalars(query)).all()
        self.db.expunge_all()
        return rows

    async def next_retry(self) -> float | None:
        """When the soonest waiting retry is due (None: nothing waits)."""
        query = select(func.min(WebhookEvent.next_attempt_at)).where(WebhookEvent.dead.is_(False))
        value: float | None = await self.db.scalar(query)
        return value

    async def settle(self, delivered: Sequence[int], failures: Sequence[Failure]) -> None:
        """Delivered rows go; failed ones wait for their retry or are marked dead. One commit."""
        if delivered:
            await self.db.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(delivered)))
        for failure in failures:
            await self.db.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id == failure.event_id)
                .values(
                    attempts=failure.attempts,
                    last_error=failure.error[:1000],
                    next_attempt_at=failure.next_attempt_at,
                    dead=failure.dead,
                )
            )
        await self.db.commit()

    async def pending(self) -> int:
        """Events not yet delivered nor given up on."""
        count: int = (
            await self.db.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.dead.is_(False)))
            or 0
        )
        return count

    async def dead(self) -> Sequence[WebhookEvent]:
        rows = (await self.db.scalars(select(WebhookEvent).where(WebhookEvent.dead.is_(True)))).all()
        return rows
