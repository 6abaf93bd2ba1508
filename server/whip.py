"""WHIP (RFC 9725) over HTTP: `POST /whip/<id>` with an SDP offer → 201 + answer + Location;
`DELETE /whip/<id>/<session>` ends it; OPTIONS and CORS for browsers; and the
"go live from this browser" page at `/whip/<id>/publish`.

Routes stay thin: offer checks live in `server/whip_sdp.py`, admission and the worker in
`server/media/whip.py`; their refusals (`OfferError`, `WhipRefused`) leave here as
`HeadwaterError`s with the CORS headers a browser needs to read them (server/errors.py).
"""

from __future__ import annotations

from importlib.resources import files
from math import ceil

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ingest.whip.ice_servers import link_header
from server.errors import HeadwaterError
from server.failed_attempts import PUBLISH, FailedAttempts
from server.media.whip import WhipRefused
from server.whip_sdp import MAX_OFFER_BYTES, OfferError, check_offer

router = APIRouter(tags=["whip"], include_in_schema=False)

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Expose-Headers": "Location, Link",
}


def refusal(status: int, message: str) -> HeadwaterError:
    return HeadwaterError(message, status=status, headers=CORS)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@router.options("/whip/{stream_id}")
@router.options("/whip/{stream_id}/{session_id}")
async def preflight(stream_id: int, session_id: str | None = None) -> Response:
    return Response(status_code=204, headers={**CORS, "Accept-Post": "application/sdp"})


@router.post("/whip/{stream_id}")
async def publish(stream_id: int, request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/sdp":
        raise refusal(415, "send the SDP offer with Content-Type: application/sdp")
    body = await request.body()
    if len(body) > MAX_OFFER_BYTES:
        raise refusal(413, "the SDP offer is too large")
    whip = request.app.state.media.whip
    failed_attempts: FailedAttempts = request.app.state.failed_attempts
    address = request.client.host if request.client else "?"
    if failed_attempts.blocked(PUBLISH, address):
        retry = ceil(failed_attempts.retry_after(PUBLISH, address))
        raise HeadwaterError(
            "too many failed attempts from this address: retry later",
            status=429,
            headers={**CORS, "Retry-After": str(retry)},
        )
    try:
        try:
            stream, renditions = await whip.admit(stream_id, bearer_token(request))
        except WhipRefused as refused:
            if refused.status in (401, 403, 404):  # a guess, not a taken slot
                failed_attempts.failed(PUBLISH, address)
            raise
        offer = body.decode("utf-8")
        check_offer(offer)
        session, answer = await whip.open(stream, offer, renditions)
    except UnicodeDecodeError:
        raise refusal(400, "malformed SDP offer: not UTF-8 text") from None
    except (WhipRefused, OfferError) as error:
        raise refusal(error.status, str(error)) from error
    headers = {**CORS, "Location": f"/whip/{stream_id}/{session.id}"}
    servers = request.app.state.settings.whip_ice_server_list
    if servers:  # RFC 9725 §4.6: the client may use them too (TURN credentials only to the publisher)
        headers["Link"] = link_header(servers)
    return Response(answer, status_code=201, media_type="application/sdp", headers=headers)


@router.delete("/whip/{stream_id}/{session_id}")
async def end_session(stream_id: int, session_id: str, request: Request) -> Response:
    session = request.app.state.media.whip.find(stream_id, session_id)
    if session is None:
        raise refusal(404, "no such WHIP session")
    session.stop()
    return Response(status_code=200, headers=CORS)


@router.get("/whip/{stream_id}/publish")
async def publish_page(stream_id: int) -> HTMLResponse:
    page = files("server.delivery").joinpath("static/publish.html").read_text()
    return HTMLResponse(page.replace("{{STREAM_ID}}", str(stream_id)), headers={"Cache-Control": "no-cache"})
