"""The ASGI side of signed playback (`playback_tokens`): checks the token of every request
under a playback prefix, answers 403 when it is not good, and hands the request on with the
token taken off its path, so the apps behind (live, videos, clips, the player page) route
it as they would an unsigned one. The live fast path (`live_wire`) checks its own requests
the same way before `LiveRoutes` sees them.
"""

from __future__ import annotations

import time

from server.delivery.live_routes import CORS, answer
from server.delivery.playback_tokens import PlaybackTokens, Refusal

PLAYBACK_TOKEN = "headwater.playback_token"  # scope key: the request's token (`t/<expires>/<signature>/`)
SIGNED_PATH = "headwater.signed_path"  # scope key: the path as requested, token included (to relay it)
REFUSED = {
    refusal: answer(403, f"{refusal.value}\n".encode(), [*CORS, (b"cache-control", b"no-store")]) for refusal in Refusal
}


class SignedPlayback:
    """ASGI wrapper in front of the node's apps, present only when signing is on."""

    def __init__(self, app, tokens: PlaybackTokens) -> None:
        self.app = app
        self.tokens = tokens

    def __getattr__(self, name: str):
        return getattr(self.app, name)  # `live` and the rest of the wrapped app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":  # a preflight shows nothing
            return await self.app(scope, receive, send)
        client = scope.get("client")
        opened = self.tokens.open(scope["path"], client[0] if client else None, time.time())
        if isinstance(opened, Refusal):
            found = REFUSED[opened]
            await send({"type": "http.response.start", "status": found.status, "headers": found.headers})
            await send({"type": "http.response.body", "body": found.body})
            return None
        if not opened.token:
            return await self.app(scope, receive, send)
        raw_path = scope.get("raw_path")
        if raw_path is not None:
            raw_path = raw_path.replace(f"/{opened.token[:-1]}".encode(), b"", 1)
        scope = {
            **scope,
            "path": opened.path,
            "raw_path": raw_path,
            PLAYBACK_TOKEN: opened.token,
            SIGNED_PATH: scope["path"],
        }
        return await self.app(scope, receive, send)
