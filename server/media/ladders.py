"""Which renditions a stream's worker makes: its quality set, resolved from the database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Stream
from server.db.quality_sets import QualitySetRepository
from transcode.contract import Rendition


async def ladder_of(db: AsyncSession, stream: Stream) -> list[Rendition]:
    """The renditions a publish of `stream` gets: its own live quality set, else the account
    default (`PUT /streaming/quality_sets/default`); the built-in "origin" set has none."""
    quality_set = await QualitySetRepository(db).live_set_of(stream)
    if quality_set is None:
        return []
    return [
        Rendition(
            name=q.name,
            width=q.width,
            height=q.height,
            video_bitrate=q.video_bitrate,
            audio_bitrate=q.audio_bitrate,
            max_frame_rate=q.max_frame_rate,
        )
        for q in quality_set.qualities
    ]
