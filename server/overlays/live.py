"""The overlays of the node's live streams: what the renderer renders and what each stream's
worker draws.

A stream's overlays are rendered while it is live here with `html_overlay` on (`sync`, after
every API change and when a stream goes live or ends). Each new image goes to the stream's
worker at once as a `SetOverlay` command with the overlay's placement; a move or resize goes
as a `SetOverlay` without an image (the worker keeps the last one), a removal as
`KeepOverlays`. A new worker of the stream (a restart, a reconnect) gets the current state
first (`commands`), so it draws the last images before the next captures come.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import Overlay
from server.db.streams import StreamRepository
from server.overlays.pages import OverlaySpec
from server.overlays.renderer import OverlayRenderer
from transcode.contract import Command, KeepOverlays, SetOverlay

log = logging.getLogger("headwater.overlays")

# The page size of an overlay without its own (Gcore: width and height are optional) and of a
# `stretch` one, which is scaled to the whole frame: a 1080p canvas, the largest source.
DEFAULT_SIZE = (1920, 1080)


@dataclass(frozen=True)
class Placed:
    """One overlay as the node renders and places it."""

    spec: OverlaySpec
    x: int
    y: int
    stretch: bool

    @classmethod
    def of(cls, overlay: Overlay) -> Placed:
        width = overlay.width or DEFAULT_SIZE[0]
        height = overlay.height or DEFAULT_SIZE[1]
        if overlay.stretch:
            width, height = DEFAULT_SIZE
        return cls(OverlaySpec(overlay.id, overlay.url, width, height), overlay.x or 0, overlay.y or 0, overlay.stretch)

    def command(self, png: bytes | None) -> SetOverlay:
        return SetOverlay(
            overlay_id=self.spec.overlay_id,
            x=self.x,
            y=self.y,
            width=self.spec.width,
            height=self.spec.height,
            stretch=self.stretch,
            png=base64.b64encode(png).decode() if png else "",
        )


class LiveOverlays:
    def __init__(
        self,
        db_sessions: async_sessionmaker[AsyncSession],
        send: Callable[[int, list[Command]], None],
        is_live: Callable[[int], bool],
        *,
        allow_private: bool = False,
    ) -> None:
        """`send(stream_id, commands)` reaches the stream's current worker, if any."""
        self.db_sessions = db_sessions
        self.send = send
        self.is_live = is_live
        self.renderer = OverlayRenderer(self._image, allow_private=allow_private)
        self.streams: dict[int, dict[int, Placed]] = {}  # stream id → its overlays being drawn
        self.owners: dict[int, int] = {}  # overlay id → stream id
        self.images: dict[int, bytes] = {}  # overlay id → its last image

    async def sync(self, stream_id: int) -> None:
        """Render and draw what the stream's rows say now (nothing unless live with html_overlay)."""
        async with self.db_sessions() as db:
            stream = await StreamRepository(db).get(stream_id)
            rows = list(stream.overlays) if stream is not None and stream.html_overlay else []
            wanted = {row.id: Placed.of(row) for row in rows} if self.is_live(stream_id) else {}
        self._apply(stream_id, wanted)

    def stream_ended(self, stream_id: int) -> None:
        self._apply(stream_id, {})

    def commands(self, stream_id: int) -> list[Command]:
        """What a new worker of the stream is told first: every overlay with its last image."""
        placed = self.streams.get(stream_id)
        if not placed:
            return []
        return [*(p.command(self.images.get(key)) for key, p in placed.items()), KeepOverlays(overlay_ids=list(placed))]

    async def close(self) -> None:
        await self.renderer.close()

    def _apply(self, stream_id: int, wanted: dict[int, Placed]) -> None:
        current = self.streams.get(stream_id, {})
        if not wanted and not current:
            return
        for key in set(current) - set(wanted):
            self.renderer.drop(key)
            self.owners.pop(key, None)
            self.images.pop(key, None)
        commands: list[Command] = []
        for key, placed in wanted.items():
            before = current.get(key)
            if before is not None and before.spec != placed.spec:
                self.images.pop(key, None)  # another page or size: the old image is not it
            self.owners[key] = stream_id
            self.renderer.set(placed.spec)
            if before != placed:
                commands.append(placed.command(None))  # a move: the worker keeps its image
        if wanted:
            self.streams[stream_id] = wanted
        else:
            self.streams.pop(stream_id, None)
        if commands or set(current) - set(wanted):
            commands.append(KeepOverlays(overlay_ids=list(wanted)))
            self.send(stream_id, commands)

    def _image(self, overlay_id: int, png: bytes) -> None:
        stream_id = self.owners.get(overlay_id)
        if stream_id is None or overlay_id not in self.streams.get(stream_id, {}):
            return  # a capture of an overlay dropped meanwhile
        self.images[overlay_id] = png
        self.send(stream_id, [self.streams[stream_id][overlay_id].command(png)])
