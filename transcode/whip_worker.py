"""A WHIP stream's worker: answer the offer, then package what the peer sends.

Events besides the packager's: `whip_answer` (`sdp`) or `whip_failed` (`status`, `message`)
first; `started` once media flows. The worker exits 0 when the session ends (the node closed
stdin after a WHIP DELETE, or the peer left).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import av

from ingest.whip.ice_servers import IceServer
from ingest.whip.peer import OfferRefused, TsPipeSource, open_session
from transcode.commands import WorkerContext
from transcode.contract import WhipAnswer, WhipFailed
from transcode.pipe_input import watch_stdin
from transcode.sources import package

log = logging.getLogger("headwater.whip")


def run_whip(context: WorkerContext, clock: Callable[[], float]) -> None:
    config, emit = context.config, context.emit
    logging.getLogger("aioice").setLevel(logging.WARNING)  # a line per candidate pair otherwise
    assert config.whip_offer is not None  # the worker runs this loop for a WHIP config only
    try:
        peer, answer, read_fd = open_session(
            config.whip_offer,
            keyframe_interval=config.segment_target,
            media_timeout=config.whip_media_timeout,
            ice_loopback=config.whip_ice_loopback,
            udp_ports=config.whip_udp_ports,
            ice_servers=[IceServer.from_json(server) for server in config.whip_ice_servers],
        )
    except OfferRefused as error:
        emit(WhipFailed(status=error.status, message=str(error)))
        return
    emit(WhipAnswer(sdp=answer))
    watch_stdin(peer.stop, context.queue)
    try:
        source = TsPipeSource(read_fd)  # blocks until media flows, or the session ends
    except av.error.FFmpegError as error:
        log.info("the WHIP session ended before media arrived (%s)", error)
        peer.stop()
        return
    try:
        package(context, iter([source]), clock)
    finally:
        peer.stop()
        peer.thread.join(timeout=5)
