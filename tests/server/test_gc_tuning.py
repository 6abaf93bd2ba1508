"""The node's startup heap ends up in the permanent generation, out of every collection."""

from __future__ import annotations

import gc
import socket

from server.app import create_app
from server.db.migrate import upgrade
from server.settings import Settings
from tests.support.ports import free_port


async def test_a_started_node_has_frozen_its_startup_heap(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        api_key="k" * 32,
        rtmp_port=free_port(),
        rtmps_port=free_port(),
        srt_port=free_port(socket.SOCK_DGRAM),
    )
    upgrade(settings.resolved_database_url)  # as `headwater serve` does first
    app = create_app(settings)
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            frozen = gc.get_freeze_count()
            young = len(gc.get_objects())
    finally:
        gc.unfreeze()
    # what imports and startup made (tens of thousands of objects) is frozen; little is left
    assert frozen > 50_000 and young < frozen / 10
