"""The outbox: each webhook is a row added in the transaction of the state change it reports,
so a change committed always has its event and a change rolled back never does.

One `Outbox` per node (`app.state.outbox`); repositories that change what a webhook reports
take it and call it before their commit. With no `webhook_url` it writes nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Restream, Stream, Video
from server.db.webhook_events import WebhookEventRepository
from server.settings import Settings
from server.webhooks.payloads import (
    STAGE_FIELDS,
    Stage,
    body,
    restream_message,
    stage_of,
    stream_message,
    video_message,
)


class Outbox:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.enabled = settings.webhook_url is not None
        self.clock = clock
        self.added = asyncio.Event()  # set when an event commits: the delivery task wakes

    def watches(self, values: Mapping[str, Any]) -> bool:
        """Can writing `values` to a stream change its stage (worth comparing before/after)?"""
        return self.enabled and not STAGE_FIELDS.isdisjoint(values)

    def stage_of(self, stream: Stream) -> Stage:
        return stage_of(stream)

    def stream_changed(self, db: AsyncSession, before: Stage | None, stream: Stream) -> None:
        """A "stream" event when the stream's stage is not `before` any more."""
        if self.enabled and stage_of(stream) != before:
            self._add(db, f"stream:{stream.id}", "stream", stream_message(stream))

    def video_changed(self, db: AsyncSession, video: Video) -> None:
        """A "video" event: a video was made, or its status changed."""
        if self.enabled:
            self._add(db, f"video:{video.id}", "video", video_message(video, self.settings))

    def video_deleted(self, db: AsyncSession, video: Video) -> None:
        """A "video_delete" event with the video as it was (call before deleting it)."""
        if self.enabled:
            self._add(db, f"video:{video.id}", "video_delete", video_message(video, self.settings))

    def restream_changed(self, db: AsyncSession, restream: Restream) -> None:
        """A "restream" event (its `live` changed), written in the session of that change."""
        if self.enabled:
            self._add(db, f"restream:{restream.id}", "restream", restream_message(restream))

    def _add(self, db: AsyncSession, entity: str, kind: str, message: dict[str, Any]) -> None:
        WebhookEventRepository(db).add(entity, kind, body(kind, message), self.clock(), self.added.set)
