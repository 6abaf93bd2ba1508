"""The built-in web player at a stream's `iframe_url` (`/player/<id>`), and its assets.

The page is public (viewers have no API key) and embeddable in any site's iframe. It plays
the stream's LL-HLS with hls.js, falls back to native HLS (Safari) or dash.js, and shows
"offline" while the stream is not live, retrying until it is. hls.js and dash.js come from
npm at setup time (`player/`) and are served from here, never from a third-party CDN.
"""

from __future__ import annotations

import hmac
import html
import json
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from server.db.streams import StreamRepository
from server.db.videos import VideoRepository
from server.delivery.signed_http import PLAYBACK_TOKEN
from server.errors import HeadwaterError
from server.urls import CMAF_MASTER, DASH_MANIFEST, VIDEO_PREFIX

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {
    "player.js": STATIC / "player.js",
    "hls.min.js": STATIC / "vendor" / "hls.min.js",
    "dash.all.min.js": STATIC / "vendor" / "dash.all.min.js",
}
ASSET_CACHE = "public, max-age=3600"

router = APIRouter(include_in_schema=False)


@cache
def asset_bytes(name: str) -> bytes | None:
    """Assets are read once: they change only when the node is reinstalled."""
    try:
        return ASSETS[name].read_bytes()
    except OSError:
        return None


@router.get("/player/assets/{name}")
async def player_asset(name: str) -> Response:
    data = asset_bytes(name) if name in ASSETS else None
    if data is None:
        raise HeadwaterError(f"no player asset {name!r} (run `make player` to install the players)", status=404)
    return Response(data, media_type="text/javascript", headers={"Cache-Control": ASSET_CACHE})


@router.get("/player/videos/{ref}", response_class=HTMLResponse)
async def video_player_page(ref: str, request: Request) -> HTMLResponse:
    """A recorded video's `iframe_url`: 404 unless `ref` names a ready video (`<id>_<slug>`)."""
    video_id, _, slug = ref.partition("_")
    found = None
    if video_id.isdigit() and len(video_id) < 10 and slug:
        async with request.app.state.db_sessions() as db:
            found = await VideoRepository(db).playable(int(video_id))
    if found is None or not hmac.compare_digest((found.recording_key or "").encode(), slug.encode()):
        raise HeadwaterError("no such video", status=404)
    base = f"{VIDEO_PREFIX}{ref}/{request.scope.get(PLAYBACK_TOKEN, '')}"
    config = {
        "hls": f"{base}{CMAF_MASTER}",
        "dash": f"{base}{DASH_MANIFEST}",
        "projection": found.projection,
        "title": found.name,
        "dvr": False,
        "vod": True,
    }
    return _page(config)


@router.get("/player/{stream_id}", response_class=HTMLResponse)
async def player_page(stream_id: int, request: Request) -> HTMLResponse:
    """With signed playback the page's own token (`/player/<id>/t/…`, checked by
    `signed_http`) signs the stream's prefix: the page plays through it."""
    async with request.app.state.db_sessions() as db:
        stream = await StreamRepository(db).require(stream_id)
    base = f"/live/{stream_id}/{request.scope.get(PLAYBACK_TOKEN, '')}"
    config = {
        "hls": f"{base}{CMAF_MASTER}",
        "dash": f"{base}{DASH_MANIFEST}",
        "projection": stream.projection,
        "title": stream.name,
        "dvr": stream.dvr_enabled,
    }
    return _page(config)


def _page(config: dict[str, Any]) -> HTMLResponse:
    return HTMLResponse(
        render_page(config),
        headers={
            "Cache-Control": "no-cache",
            # Embeddable everywhere: the player is meant to live in other sites' iframes.
            "Content-Security-Policy": "frame-ancestors *",
        },
    )


def render_page(config: dict[str, Any]) -> str:
    # Names are user data: no `<` reaches the page raw (JSON's \\u003c inside the script).
    blob = json.dumps(config).replace("<", "\\u003c").replace(">", "\\u003e")
    title = html.escape(config["title"] or "Headwater player")
    return PAGE.replace("{config}", blob).replace("{title}", title)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<style>
  html, body { margin: 0; height: 100%; background: #000; color: #eee; font: 15px system-ui, sans-serif; }
  #stage { position: relative; width: 100%; height: 100%; }
  video, canvas { position: absolute; inset: 0; width: 100%; height: 100%; background: #000; }
  canvas { cursor: grab; }
  #status { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
            pointer-events: none; letter-spacing: .05em; }
  #status[hidden] { display: none; }
  #dvr { position: absolute; left: 8px; right: 8px; bottom: 44px; display: flex; gap: 8px; align-items: center; }
  #dvr[hidden] { display: none; }
  #seek { flex: 1; }
  #live { background: #444; color: #eee; border: 0; border-radius: 3px; padding: 2px 8px;
          font: inherit; cursor: pointer; }
  #live.at-edge { background: #c00; }
</style></head>
<body><div id="stage">
  <video id="video" muted autoplay playsinline controls></video>
  <div id="status">Connecting…</div>
  <div id="dvr" hidden><input id="seek" type="range" min="0" max="0" step="0.1" value="0"
    aria-label="Position in the DVR window"><span id="behind"></span><button id="live" type="button">LIVE</button></div>
</div>
<script>window.HEADWATER = {config};</script>
<script src="/player/assets/hls.min.js"></script>
<script src="/player/assets/dash.all.min.js"></script>
<script src="/player/assets/player.js"></script>
</body></html>
"""
