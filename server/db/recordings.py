"""The queries of the recording lifecycle (`server/media/recordings.py`): a video row per
recording, found by its `recording_key`, and the streams' recording settings."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Stream, Video

if TYPE_CHECKING:
    from server.webhooks.outbox import Outbox


@dataclass(frozen=True)
class RecordingSettings:
    """What a stream's recordings take from its row."""

    name: str
    auto_record: bool
    record_type: str
    projection: str
    client_user_id: int | None

    @classmethod
    def of(cls, stream: Stream) -> RecordingSettings:
        return cls(
            stream.name,
            stream.auto_record,
            stream.record_type,
            stream.projection,
            stream.client_user_id,
        )


class RecordingRepository:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def settings(self) -> dict[int, RecordingSettings]:
        rows = (await self.db.scalars(select(Stream))).all()
        return {stream.id: RecordingSettings.of(stream) for stream in rows}

    async def add_video(self, video: Video, outbox: Outbox | None = None) -> Video:
        """The new video, with its "video" webhook in the same commit."""
        self.db.add(video)
        if outbox is not None and outbox.enabled:
            await self.db.flush()
            outbox.video_changed(self.db, video)
        await self.db.commit()
        await self.db.refresh(video)
        return video

    async def video(self, key: str) -> Video | None:
        video: Video | None = await self.db.scalar(select(Video).where(Video.recording_key == key))
        return video

    async def set_video(self, key: str, outbox: Outbox | None = None, **values: Any) -> None:
        """A video's new status (and what comes with it), with its "video" webhook in the same commit."""
        await self.db.execute(update(Video).where(Video.recording_key == key).values(**values))
        if outbox is not None and outbox.enabled:
            video = await self.video(key)
            if video is not None:
                await self.db.refresh(video)
                outbox.video_changed(self.db, video)
        await self.db.commit()

    async def nothing_records(self, keep: Collection[int]) -> None:
        """At node start: no stream records on a node that just started (those in `keep` run
        on another node)."""
        others = Stream.id.not_in(keep)
        await self.db.execute(update(Stream).where(others).values(recording_duration=None, recording_video_id=None))
        await self.db.commit()

    async def unfinished(self, keep: Collection[int]) -> list[str]:
        """Keys of recordings whose video was never finalized (the node stopped meanwhile),
        but those of the streams in `keep` (another node records them now)."""
        query = select(Video.recording_key).where(
            Video.status == "pending",
            Video.recording_key.is_not(None),
            or_(Video.stream_id.is_(None), Video.stream_id.not_in(keep)),
        )
        return [key for key in (await self.db.scalars(query)).all() if key is not None]
