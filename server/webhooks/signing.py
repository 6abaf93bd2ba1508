"""How a webhook request is signed, and how a receiver checks it.

`X-Headwater-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with
HEADWATER_WEBHOOK_SECRET>` (Stripe's scheme: the timestamp inside the MAC stops a replay of an
old body under a new time); `X-Headwater-Event-Id: <outbox row id>`, the same on every retry
of one event, so a receiver can drop a duplicate (delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Headwater-Signature"
EVENT_ID_HEADER = "X-Headwater-Event-Id"
EVENT_TYPE_HEADER = "X-Headwater-Event-Type"


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """Does `header` sign `body` with `secret`, at most `tolerance` seconds from `now`?"""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)
