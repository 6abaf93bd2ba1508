"""A real uvicorn server on 127.0.0.1 with the node's HTTP protocol, in the test's own loop."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import uvicorn

from server.delivery.live_http import LiveFirst
from server.delivery.live_wire import LiveWireProtocol
from server.delivery.playback_tokens import PlaybackTokens
from server.delivery.signed_http import SignedPlayback
from tests.support.ports import free_port


@asynccontextmanager
async def serve_live(app: LiveFirst | SignedPlayback, tokens: PlaybackTokens | None = None, **options):
    """Serves `app` as the node does (LiveWireProtocol answering live requests for
    `app.live`, checking `tokens` when signed playback is on), with uvicorn `options`;
    yields the port."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        http=LiveWireProtocol.serving(app.live.routes, tokens),
        timeout_graceful_shutdown=1,
        access_log=False,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task
