"""Every query of the `streams` table: the API's reads and writes, the media side's lookups
and live status writes."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Stream
from server.db.paging import Page, PageOf, fetch_page
from server.errors import NotFound

if TYPE_CHECKING:
    from server.webhooks.outbox import Outbox

# The live status of a stream on a node that is not running it.
OFFLINE: dict[str, Any] = {
    "live": False,
    "stream_source_type": None,
    "transcoding_speed": None,
    "frame_rate": None,
    "video_width": None,
    "video_height": None,
    "transcoded_qualities": [],
    "output_ready": False,
}


class StreamRepository:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def get(self, stream_id: int) -> Stream | None:
        return await self.db.get(Stream, stream_id)

    async def require(self, stream_id: int) -> Stream:
        """The stream, or a 404."""
        stream = await self.get(stream_id)
        if stream is None:
            raise NotFound("Stream", stream_id)
        return stream

    async def page(self, page: Page) -> PageOf[Stream]:
        """Newest first."""
        return await fetch_page(self.db, select(Stream).order_by(Stream.id.desc()), page)

    async def add(self, stream: Stream) -> Stream:
        self.db.add(stream)
        await self.db.commit()
        await self.db.refresh(stream)
        return stream

    async def save(self, stream: Stream) -> Stream:
        await self.db.commit()
        await self.db.refresh(stream)
        return stream

    async def delete(self, stream: Stream) -> None:
        await self.db.delete(stream)
        await self.db.commit()

    async def publish_credentials(self) -> list[tuple[int, str, bool, str | None]]:
        """(id, token, active, srt_passphrase) of every stream: what admission checks."""
        query = select(Stream.id, Stream.token, Stream.active, Stream.srt_passphrase)
        return [(row[0], row[1], row[2], row[3]) for row in (await self.db.execute(query)).all()]

    async def active_pull_ids(self) -> list[int]:
        """Streams that pull their source and are active (each wants a pull worker)."""
        query = select(Stream.id).where(Stream.pull.is_(True), Stream.active.is_(True))
        return list((await self.db.scalars(query)).all())

    async def live_flags(self) -> list[tuple[int, bool, bool]]:
        """(id, live, backup_live) of every stream: the streams /metrics shows."""
        rows = await self.db.execute(select(Stream.id, Stream.live, Stream.backup_live).order_by(Stream.id))
        return [(row[0], row[1], row[2]) for row in rows]

    async def resume_points(self) -> list[tuple[int, Any]]:
        """(stream id, stored resume point) of every stream that has one."""
        query = select(Stream.id, Stream.resume_point).where(Stream.resume_point.is_not(None))
        return [(row[0], row[1]) for row in (await self.db.execute(query)).all()]

    async def resume_point(self, stream_id: int) -> Any:
        """The stream's stored resume point (JSON), if any."""
        return await self.db.scalar(select(Stream.resume_point).where(Stream.id == stream_id))

    async def dvr_windows(self) -> list[tuple[int, int]]:
        """(stream id, dvr_duration) of every stream with DVR enabled."""
        query = select(Stream.id, Stream.dvr_duration).where(Stream.dvr_enabled.is_(True))
        return [(row[0], row[1]) for row in (await self.db.execute(query)).all()]

    async def set_status(self, batch: dict[int, dict[str, Any]], outbox: Outbox | None = None) -> None:
        """Live status fields (`live`, `transcoding_speed`, …) of several streams, one commit;
        with the webhook events of the streams whose stage they change, in the same commit."""
        for stream_id, values in batch.items():
            stream = await self.get(stream_id) if outbox is not None and outbox.watches(values) else None
            before = outbox.stage_of(stream) if outbox is not None and stream is not None else None
            await self.db.execute(update(Stream).where(Stream.id == stream_id).values(**values))
            if outbox is not None and stream is not None:
                await self.db.refresh(stream)
                outbox.stream_changed(self.db, before, stream)
        await self.db.commit()

    async def reset_live(self, keep: Collection[int] = (), outbox: Outbox | None = None) -> None:
        """No stream is live but those in `keep` (a node that just started runs none; other
        nodes sharing the database run `keep`): those the node's last run left live get their
        "stopped" webhook."""
        others = Stream.id.not_in(keep)
        was_live = or_(Stream.live.is_(True), Stream.output_ready.is_(True))
        stopped = []
        if outbox is not None and outbox.enabled:
            rows = (
                await self.db.scalars(select(Stream).where(or_(was_live, Stream.backup_live.is_(True)), others))
            ).all()
            stopped = [(stream, outbox.stage_of(stream)) for stream in rows]
        await self.db.execute(update(Stream).where(was_live, others).values(**OFFLINE))
        await self.db.execute(update(Stream).where(Stream.backup_live.is_(True), others).values(backup_live=False))
        for stream, before in stopped:
            await self.db.refresh(stream)
            if outbox is not None:
                outbox.stream_changed(self.db, before, stream)
        await self.db.commit()
