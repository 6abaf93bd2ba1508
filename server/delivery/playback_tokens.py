"""Signed playback: a token with an expiry in every playback URL, in the manner of nginx's
`secure_link`, when `HEADWATER_PLAYBACK_SECRET` is set.

The token sits in the path, right after the prefix it signs:

    /live/42/t/<expires>/<signature>/master.m3u8        prefix /live/42/
    /videos/7_<slug>/t/<expires>/<signature>/index.mpd  prefix /videos/7_<slug>/
    /clips/<clip id>/t/<expires>/<signature>/clip.mp4   prefix /clips/<clip id>/
    /player/42/t/<expires>/<signature>                  the player page: /live/42/'s token
    /player/videos/7_<slug>/t/<expires>/<signature>     the same for /videos/7_<slug>/

    signature = base64url(HMAC-SHA256(secret, "<prefix>\\n<expires>[\\n<client address>]")), unpadded

Why the path and not a query: every URI inside the node's playlists and MPDs is relative
(`origin/index.m3u8`, `seg_12.3.m4s`, `../audio/index.m3u8`, `origin/seg_$Number$.m4s`), so
a player resolves them under the token and every request it makes carries it. The playlists
stay one text for every viewer, rendered once and shared (the live fast path, `live_wire`);
a query token would have to be written into each playlist for each viewer. The token is
taken off the path before routing, so a signed request is answered exactly as an unsigned
one was (blocking reloads, delta updates and their `_HLS_` query included).
"""

from __future__ import annotations

import base64
import enum
import hmac
import math
import time
from typing import NamedTuple

from server.settings import Settings

MARK = "t"  # the path segment that introduces a token: …/t/<expires>/<signature>/…
SIGNATURE_CHARS = 43  # 32 bytes, base64url, no padding
LIVE, VIDEOS, CLIPS, PLAYER = "/live/", "/videos/", "/clips/", "/player/"
PROTECTED = (LIVE, VIDEOS, CLIPS, PLAYER)
PUBLIC = ("/player/assets/",)  # the player's scripts: the same for every stream
KNOWN_TOKENS = 10_000  # good tokens remembered (a viewer's, or every viewer's without the address)
EXPIRY_STEP = 3600.0  # tokens minted within one step share their expiry (see `expiry`)


class Refusal(enum.Enum):
    """Why a request gets 403. Short on purpose: a forged, altered or foreign token (another
    stream's, another address's) is one answer, so nobody learns which part failed."""

    REQUIRED = "playback token required"
    INVALID = "invalid playback token"
    EXPIRED = "playback token expired"  # (the expiry is in the URL: this tells nothing secret)


class Opened(NamedTuple):
    """A request path with its token taken off, and that token (`t/<expires>/<signature>/`,
    "" for a path that needs none); the prefix the token signs and its expiry."""

    path: str
    token: str
    prefix: str = ""
    expires: int = 0


class PlaybackTokens:
    """Mints and checks playback tokens with the node's secret.

    `ttl`: how long a minted token lasts at least; `bind_address`: the client's address is
    signed too, so a URL works only from the address it was minted for."""

    def __init__(self, secret: bytes, ttl: float, bind_address: bool = False) -> None:
        self.secret = secret
        self.ttl = ttl
        self.bind_address = bind_address
        self.known: dict[tuple[str, str, str | None], int] = {}  # (prefix, token, bound address) → expires

    @classmethod
    def from_settings(cls, settings: Settings) -> PlaybackTokens | None:
        """None when signing is off (no secret): then nothing is checked anywhere."""
        if settings.playback_secret is None:
            return None
        secret = settings.playback_secret.get_secret_value().encode()
        return cls(secret, settings.playback_token_ttl, settings.playback_bind_address)

    def signature(self, prefix: str, expires: int, address: str | None = None) -> str:
        message = f"{prefix}\n{expires}"
        if self.bind_address:
            message += f"\n{address or ''}"
        digest = hmac.digest(self.secret, message.encode(), "sha256")
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def expiry(self, now: float) -> int:
        """At least `ttl` from now, rounded up to a step (an hour, or the ttl if shorter): every
        viewer served within one step gets the same URLs, so a CDN in front keeps one copy of
        each segment per step, not one per viewer."""
        step = min(self.ttl, EXPIRY_STEP)
        return int(math.ceil((now + self.ttl) / step) * step)

    def token(self, prefix: str, address: str | None = None, now: float | None = None) -> str:
        """The path segment that signs `prefix` (`/live/42/`): `t/<expires>/<signature>/`."""
        expires = self.expiry(time.time() if now is None else now)
        return self.token_until(prefix, expires, address)

    def token_until(self, prefix: str, expires: int, address: str | None = None) -> str:
        return f"{MARK}/{expires}/{self.signature(prefix, expires, address)}/"

    def open(self, path: str, address: str | None, now: float) -> Opened | Refusal:
        """`path` without its token when the token is good for it (paths outside the playback
        prefixes pass as they are), else why not.

        On the live fast path, for every request: a token once found good is remembered
        (`known`), so the thousands of requests a viewer's token signs cost a split and a
        dict lookup, not an HMAC each."""
        if not path.startswith(PROTECTED) or path.startswith(PUBLIC):
            return Opened(path, "")
        if path.startswith(PLAYER):
            inner = path[len(PLAYER) - 1 :]  # /42/t/<expires>/<signature> or /videos/<ref>/t/…
            videos = inner.startswith(VIDEOS)
            parts = (inner[len(VIDEOS) - 1 :] if videos else inner).split("/")
            if len(parts) == 6 and parts[5] == "":  # a trailing slash
                parts.pop()
            if len(parts) != 5 or parts[2] != MARK:
                return Refusal.REQUIRED
            _, name, _, expires, signature = parts
            prefix = f"{VIDEOS if videos else LIVE}{name}/"
            opened_path = f"{PLAYER}{'videos/' if videos else ''}{name}"
        else:
            parts = path.split("/", 6)  # '', 'live', '42', 't', expires, signature, rest
            if len(parts) != 7 or parts[3] != MARK or not parts[6]:
                return Refusal.REQUIRED
            _, kind, name, _, expires, signature, rest = parts
            prefix = f"/{kind}/{name}/"
            opened_path = prefix + rest
        token = f"{MARK}/{expires}/{signature}/"
        key = (prefix, token, address if self.bind_address else None)
        known = self.known.get(key)
        if known is None:
            refusal = self._check(prefix, expires, signature, address)
            if refusal is not None:
                return refusal
            if len(self.known) >= KNOWN_TOKENS:
                self.known.clear()
            known = self.known[key] = int(expires)
        if known < now:
            return Refusal.EXPIRED
        return Opened(opened_path, token, prefix, known)

    def _check(self, prefix: str, expires: str, signature: str, address: str | None) -> Refusal | None:
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12 and len(signature) == SIGNATURE_CHARS):
            return Refusal.REQUIRED
        expected = self.signature(prefix, int(expires), address)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return Refusal.INVALID
        return None
