"""Every query of a stream's HTML overlays."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Overlay
from server.errors import NotFound


class OverlayRepository:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def require(self, stream_id: int, overlay_id: int) -> Overlay:
        """The overlay of that stream, or a 404 (an overlay of another stream is not found)."""
        overlay = await self.db.get(Overlay, overlay_id)
        if overlay is None or overlay.stream_id != stream_id:
            raise NotFound("Overlay", overlay_id)
        return overlay

    async def add(self, overlays: list[Overlay]) -> list[Overlay]:
        self.db.add_all(overlays)
        await self.db.commit()
        return overlays

    async def save(self, overlays: list[Overlay]) -> list[Overlay]:
        await self.db.commit()
        for overlay in overlays:
            await self.db.refresh(overlay)
        return overlays

    async def delete(self, overlay: Overlay) -> None:
        await self.db.delete(overlay)
        await self.db.commit()
