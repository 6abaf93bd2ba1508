"""The FastAPI application: control API, delivery routes, and the node's lifespan."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from server import errors, whip
from server.api import clips, overlays, quality_sets, restreams, statistics, streams, videos
from server.cluster.relay import OwnerRelay
from server.db.engine import create_engine_for, db_session_factory
from server.db.node_settings import stored_api_key
from server.delivery import player
from server.delivery.clip_http import ClipHttp
from server.delivery.live_http import LiveFirst, LiveHttp
from server.delivery.playback_tokens import PlaybackTokens
from server.delivery.screenshots import ScreenshotFiles
from server.delivery.signed_http import SignedPlayback
from server.delivery.vod_http import PrefixFirst, VodHttp
from server.delivery.vod_library import VodLibrary
from server.failed_attempts import FailedAttempts
from server.gc_tuning import freeze_startup_heap
from server.media.node_media import NodeMedia
from server.metrics import scrape
from server.metrics.http_requests import CountedRequests
from server.settings import Settings
from server.storage import recording_storage
from server.urls import CLIP_PREFIX, UTC_TIMING_PATH, VIDEO_PREFIX
from server.webhooks.delivery import WebhookDelivery
from server.webhooks.outbox import Outbox

log = logging.getLogger("headwater")


async def resolve_api_key(app: FastAPI, settings: Settings) -> str:
    """HEADWATER_API_KEY wins; otherwise the stored key, generated and printed on first start."""
    if settings.api_key:
        return settings.api_key
    async with app.state.db_sessions() as db:
        key, created = await stored_api_key(db, create=True)
    if created and settings.log_format == "json":
        log.warning("generated an API key (shown once; `headwater api-key` shows it again): APIKey %s", key)
    elif created:
        print(
            "\n  Headwater generated an API key (shown once; `headwater api-key` shows it again):\n"
            f"    Authorization: APIKey {key}\n",
            flush=True,
        )
    return key


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.engine = create_engine_for(settings.resolved_database_url, settings.database_timeout)
    app.state.db_sessions = db_session_factory(app.state.engine)
    app.state.api_key = await resolve_api_key(app, settings)
    app.state.media = NodeMedia(
        settings, app.state.db_sessions, app.state.recordings, app.state.outbox, app.state.failed_attempts
    )
    await app.state.media.start()
    webhooks = (
        WebhookDelivery(settings, app.state.db_sessions, app.state.outbox, cluster=app.state.media.cluster)
        if settings.webhook_url
        else None
    )
    if webhooks is not None:
        webhooks.start()
    freeze_startup_heap()
    app.state.ready = True
    try:
        yield
    finally:
        app.state.ready = False
        if app.state.relay is not None:
            await app.state.relay.close()
        await app.state.media.close()
        if webhooks is not None:  # what is not delivered yet stays in the outbox for the next start
            await webhooks.close()
        await app.state.engine.dispose()


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="Headwater", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.screenshots = ScreenshotFiles(settings.screenshot_dir, settings.screenshot_interval)
    app.state.recordings = recording_storage(settings)
    app.state.outbox = Outbox(settings)  # writes nothing unless `webhook_url` is set
    app.state.vod = VodLibrary(app.state.recordings, lambda: app.state.db_sessions())
    app.state.ready = False
    app.state.failed_attempts = FailedAttempts(settings.failed_attempts_burst, settings.failed_attempts_refill)
    app.state.requests = None  # CountedRequests, when create_asgi counts them
    app.state.playback_tokens = PlaybackTokens.from_settings(settings)  # None: signed playback off
    app.state.relay = None  # OwnerRelay, when create_asgi relays to other nodes
    errors.install(app)

    @app.get("/health", include_in_schema=False)
    async def health(request: Request) -> JSONResponse:
        """Which node answered (behind a load balancer, any of them may)."""
        ready = request.app.state.ready
        answer = {"status": "ok" if ready else "starting", "node": settings.resolved_node_id}
        return JSONResponse(answer, status_code=200 if ready else 503)

    @app.get(UTC_TIMING_PATH, include_in_schema=False)
    async def utc_time() -> PlainTextResponse:
        """DASH `UTCTiming` (urn:mpeg:dash:utc:http-iso:2014): players sync their clocks here."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return PlainTextResponse(now, headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"})

    for module in (streams, clips, overlays, quality_sets, videos, restreams, statistics):
        app.include_router(module.router, prefix="/streaming")
    app.include_router(player.router)
    app.include_router(whip.router)
    if settings.metrics:
        app.include_router(scrape.router)
    return app


def create_asgi(settings: Settings) -> LiveFirst | SignedPlayback | CountedRequests:
    """What uvicorn serves: live delivery on its fast path in front of the FastAPI app; with
    signed playback on, the tokens checked in front of them; with metrics on, every ASGI
    response counted on the way out (`asgi.live` either way)."""
    app = create_app(settings)
    relay = None
    if settings.shared_database:
        relay = app.state.relay = OwnerRelay(
            lambda: app.state.media.cluster if app.state.ready else None,
            redirect=settings.cluster_viewers == "redirect",
            hold=3 * settings.segment_target + 5,  # the owner holds a blocking reload up to 3 targets
        )
    live = LiveHttp(
        lambda stream_id: app.state.media.lookup(stream_id) if app.state.ready else None,
        segment_target=settings.segment_target,
        part_target=settings.part_target,
        screenshot=app.state.screenshots.answer,
        metered=settings.metrics or settings.statistics,
        user_agents=settings.statistics,
        relay=relay,
    )
    clip_http = ClipHttp(lambda: app.state.media.clips if app.state.ready else None)
    videos = PrefixFirst(app, VIDEO_PREFIX, VodHttp(app.state.vod))
    served: LiveFirst | SignedPlayback = LiveFirst(PrefixFirst(videos, CLIP_PREFIX, clip_http), live)
    tokens = app.state.playback_tokens
    if tokens is not None:
        served = SignedPlayback(served, tokens)
    if not settings.metrics:
        return served
    app.state.requests = CountedRequests(served)
    return app.state.requests
