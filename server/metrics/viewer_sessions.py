"""Viewer sessions: who follows a stream's playlists, from their first reload to their last.

A viewer is a client that follows a stream's playlist or manifest (LL-HLS, HLS over MPEG-TS,
DASH): players reload them every part or every segment, so a session is one (client address,
user agent, protocol) seen reloading a stream's playlists, and it ends SESSION_TIMEOUT after
its last reload. The player page alone makes no session: a page whose player never loads the
stream is not a viewer.

The delivery path only adds `(path, client, user agent)` to its stream meter's `followers`
set per playlist request (server/delivery/live_routes.py); once per TICK the node's meters
hand each set to their stream's `StreamViewers`, which keeps the sessions. The same sessions
give /metrics its viewers (`StreamViewers.viewers`) and the statistics API its rows
(server/metrics/session_flush.py writes them to SQL every few seconds, off the delivery path).
Times are wall-clock seconds at the tick that saw a reload: a session's watch time is
`last_seen - started`, true to a tick.
"""

from __future__ import annotations

import secrets

SESSION_TIMEOUT = 30.0  # seconds without a reload: 2-3 reload intervals of a 10 s segment, 60 of a part
TICK = 1.0  # seconds between two hand-overs of the followers (on the rest grid)
PROTOCOLS = ("llhls", "hls", "dash")  # CMAF LL-HLS, HLS over MPEG-TS, DASH

Follower = tuple[str, str, bytes]  # (playlist path under /live/<id>/, client address, user agent)


def viewer_protocol(path: str) -> str:
    """The delivery protocol a playlist or manifest under `/live/<id>/` belongs to."""
    if path.endswith(".mpd"):
        return "dash"
    if "mpegts" in path:
        return "hls"
    return "llhls"


class ViewerSession:
    """One viewer's following of one stream over one protocol. `id` is made here (random, 63
    bits) so that the rows can be written without asking the database for one; `stored` once
    a row holds it; `changed` while the row is behind."""

    __slots__ = ("changed", "client", "id", "last_seen", "protocol", "started", "stored", "stream_id", "user_agent")

    def __init__(self, stream_id: int, client: str, user_agent: bytes, protocol: str, now: float) -> None:
        self.id = secrets.randbits(63)
        self.stream_id = stream_id
        self.client = client
        self.user_agent = user_agent
        self.protocol = protocol
        self.started = now
        self.last_seen = now
        self.stored = False
        self.changed = True

    @property
    def seconds(self) -> float:
        return self.last_seen - self.started


class StreamViewers:
    """A stream's open sessions, keyed by (client, user agent, protocol)."""

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.sessions: dict[tuple[str, bytes, str], ViewerSession] = {}

    def see(self, followers: set[Follower], now: float, changed: list[ViewerSession]) -> None:
        """The followers of the last tick: their sessions go on (or start) at `now`; each
        session whose row is now behind is added to `changed` once."""
        for path, client, user_agent in followers:
            key = (client, user_agent, viewer_protocol(path))
            session = self.sessions.get(key)
            if session is None:
                session = self.sessions[key] = ViewerSession(self.stream_id, client, user_agent, key[2], now)
                changed.append(session)
            elif session.last_seen != now:
                session.last_seen = now
                if not session.changed:
                    session.changed = True
                    changed.append(session)

    def expire(self, now: float, timeout: float = SESSION_TIMEOUT) -> None:
        """Forget the sessions without a reload for `timeout`: their rows already hold their
        last reload (a session seen since its last write is in the changed list)."""
        ended = [key for key, session in self.sessions.items() if now - session.last_seen > timeout]
        for key in ended:
            del self.sessions[key]

    def viewers(self, now: float, window: float, pending: set[Follower]) -> dict[str, int]:
        """Distinct client addresses per protocol that reloaded within `window`, or since the
        last tick (`pending`) (/metrics: clients behind one address, a NAT or a CDN edge,
        count once there)."""
        seen: dict[str, set[str]] = {protocol: set() for protocol in PROTOCOLS}
        for session in self.sessions.values():
            if now - session.last_seen <= window:
                seen[session.protocol].add(session.client)
        for path, client, _user_agent in pending:
            seen[viewer_protocol(path)].add(client)
        return {protocol: len(clients) for protocol, clients in seen.items()}
