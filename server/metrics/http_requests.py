"""HTTP requests answered, by route class and status, for `/metrics`.

Two writers answer requests: uvicorn through the ASGI app, counted here by a thin ASGI
wrapper (`CountedRequests`), and the live fast path (`server/delivery/live_wire.py`), which
only adds to its own per-status counter; `counts()` adds the two up at scrape time.
"""

from __future__ import annotations

from collections import Counter

from server.delivery import live_wire

ROUTE_CLASSES = (  # path prefix → route class, first match
    ("/live/", "live"),
    ("/streaming/", "api"),
    ("/player/", "player"),
    ("/whip/", "whip"),
    ("/metrics", "metrics"),
    ("/health", "health"),
)


def route_class(path: str) -> str:
    for prefix, name in ROUTE_CLASSES:
        if path.startswith(prefix):
            return name
    return "other"


class CountedRequests:
    """ASGI wrapper: counts each HTTP response by route class and status as it starts."""

    def __init__(self, app) -> None:
        self.app = app
        self.answered: Counter[tuple[str, int]] = Counter()

    def __getattr__(self, name: str):
        return getattr(self.app, name)  # `live` and the rest of the wrapped app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        kind = route_class(scope["path"])
        answered = self.answered

        async def counted(message) -> None:
            if message["type"] == "http.response.start":
                answered[kind, message["status"]] += 1
            await send(message)

        await self.app(scope, receive, counted)

    def counts(self) -> dict[tuple[str, int], int]:
        """Every request answered so far: through ASGI and on the live fast path."""
        total = Counter(self.answered)
        for status, count in live_wire.ANSWERED.items():
            total["live", status] += count
        return dict(total)
