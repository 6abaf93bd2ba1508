"""`GET /metrics`: the node's state read at scrape time, in Prometheus' text format.

Optionally behind `HEADWATER_METRICS_TOKEN` (`Authorization: Bearer <token>`, compared in
constant time, never logged). The route reads the streams' rows (timed: the database's
latency), then everything else the node keeps in memory, in one go on the event loop; the
text is built by prometheus-client from a `NodeCollector` over that state.
"""

from __future__ import annotations

import hmac
import time
from collections import Counter

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.db.streams import StreamRepository
from server.delivery.live_state import MEDIA
from server.errors import Unauthorized
from server.media.pull import PullSession
from server.media.push import PushSession
from server.media.supervisor import Supervisor
from server.media.whip import WhipSession
from server.metrics.collector import NodeCollector, NodeState, StreamRow
from server.metrics.process_usage import children_usage, process_usage

router = APIRouter()


def check_token(request: Request) -> None:
    expected = request.app.state.settings.metrics_token
    if expected is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise Unauthorized("a valid Bearer token is required", headers={"WWW-Authenticate": "Bearer"})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    check_token(request)
    state = await node_state(request)
    return Response(generate_latest(NodeCollector(state)), media_type=CONTENT_TYPE_LATEST)


async def node_state(request: Request) -> NodeState:
    app = request.app
    began = time.perf_counter()
    async with app.state.db_sessions() as db:
        flags = await StreamRepository(db).live_flags()
    state = NodeState(database_latency=time.perf_counter() - began)
    supervisor: Supervisor = app.state.media.supervisor
    workers = worker_pids(supervisor)
    for stream_id, live, backup_live in flags:
        meter = supervisor.meters.by_stream.get(stream_id)
        pid = workers.get(stream_id)
        state.streams.append(
            StreamRow(stream_id, live, backup_live, meter, process_usage(pid) if pid is not None else None)
        )
    state.publishers = publishers(supervisor)
    state.pulled_streams = sum(1 for _ in supervisor.sources.every(PullSession))
    state.requests = app.state.requests.counts() if app.state.requests is not None else {}
    state.blocked = blocked_requests(supervisor)
    state.node = process_usage() or state.node
    state.children = children_usage()
    status = supervisor.status
    state.status_writes = (status.writes, status.write_seconds)
    return state


def worker_pids(supervisor: Supervisor) -> dict[int, int]:
    pids = {}
    for stream_id, sources in supervisor.sources.by_stream.items():
        for source in sources:
            worker = source.worker
            if worker is not None and worker.process is not None and worker.running:
                pids[stream_id] = worker.process.pid
    return pids


def publishers(supervisor: Supervisor) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for push in supervisor.sources.every(PushSession):
        for publisher in push.slots.values():
            counts[publisher.protocol] += 1
    counts["webrtc"] += sum(1 for _ in supervisor.sources.every(WhipSession))
    return dict(counts)


def blocked_requests(supervisor: Supervisor) -> dict[str, int]:
    """Requests held on the streams' events: a waiter whose callback is gone has been answered."""
    counts = {"playlist": 0, "media": 0}
    for succession in supervisor.successions.values():
        live = succession.live
        if live is None:
            continue
        for topic, waiters in live.waiters.items():
            held = sum(1 for waiter in waiters if waiter.callback is not None)
            counts["media" if topic == MEDIA else "playlist"] += held
    return counts
