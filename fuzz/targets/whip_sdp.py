"""The WHIP offer check (server/whip_sdp.py), on the body as the route decodes it."""

from __future__ import annotations

from fuzz.target import Target
from server.whip_sdp import MAX_OFFER_BYTES, OfferError, check_offer


def one(data: bytes) -> None:
    if len(data) > MAX_OFFER_BYTES:
        return  # the route answers 413 before parsing
    try:
        check_offer(data.decode("utf-8"))
    except OfferError as error:
        if error.status not in (400, 422):
            raise AssertionError(f"an offer refused with {error.status}") from error
        raise


TARGET = Target("whip_sdp", one, (OfferError, UnicodeDecodeError))
