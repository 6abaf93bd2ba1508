"""How fast the webhook outbox drains: EVENTS queued events (spread over ENTITIES streams,
each entity's events in order) delivered by the node's own delivery task
(`server/webhooks/delivery.py`: real database, real HTTP, signed) to a local receiver in a
process of its own. The issue's bound: ≥ 500 events/s.

Reference, same run: plain httpx clients posting the same bodies to the same receiver over as
many connections, no database, no signing (the HTTP half's ceiling on this machine), run just
before and just after the drain (the mean of the two: the machine's load drifts). Both are also
given as CPU time of the sending process per event, the steadier figure on a shared machine
(the receiver runs in its own process).

    python -m bench.webhook_drain [--events 10000] [--entities 100] [--database-url URL] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import tempfile
import time
from pathlib import Path

import httpx

from bench import smoke
from server.db.engine import create_engine_for, db_session_factory
from server.db.migrate import upgrade
from server.db.webhook_events import WebhookEventRepository
from server.settings import Settings
from server.webhooks.delivery import CONCURRENCY, WebhookDelivery
from server.webhooks.outbox import Outbox
from server.webhooks.payloads import body
from tests.support.ports import free_port
from tests.support.webhook_receiver import WebhookReceiver

BOUND = 500.0  # events/s


def receive(port: int, control: multiprocessing.connection.Connection) -> None:
    """The receiver's process: serves until told to report (the delivery task's requests
    taken, and how many came out of order within their entity)."""

    async def main() -> None:
        receiver = WebhookReceiver(port)
        await receiver.start()
        control.send("ready")
        loop = asyncio.get_running_loop()
        asked = asyncio.Event()
        loop.add_reader(control.fileno(), asked.set)
        while True:
            await asked.wait()
            asked.clear()
            if not control.poll():  # the reader fired once more before the message was read
                continue
            command = control.recv()
            if command == "stop":
                break
            last: dict[str, int] = {}
            disorder = 0
            events = [r for r in receiver.received if "x-headwater-event-id" in r.headers]  # not the reference's
            for request in events:
                entity = str(request.payload["message"]["stream"]["id"])
                disorder += request.event_id < last.get(entity, 0)
                last[entity] = request.event_id
            control.send((len(events), disorder))
            receiver.received.clear()
        await receiver.stop()

    asyncio.run(main())


async def queue_events(settings: Settings, events: int, entities: int) -> None:
    """The outbox filled as status writes fill it: one row per event, a stream object each."""
    engine = create_engine_for(settings.resolved_database_url)
    sessions = db_session_factory(engine)
    async with sessions() as db:
        repository = WebhookEventRepository(db)
        for n in range(events):
            stream_id = n % entities + 1
            message = {"stream": {"id": stream_id, "live": n % 2 == 0, "backup_live": False, "n": n}}
            repository.add(f"stream:{stream_id}", "stream", body("stream", message), time.time(), lambda: None)
        await db.commit()
    await engine.dispose()


async def drain(settings: Settings, events: int) -> tuple[float, float]:
    """Seconds the node's delivery task takes to empty the outbox, and the CPU seconds it
    (this process) spent."""
    engine = create_engine_for(settings.resolved_database_url)
    sessions = db_session_factory(engine)
    delivery = WebhookDelivery(settings, sessions, Outbox(settings))
    began, cpu = time.perf_counter(), time.process_time()
    delivery.start()
    try:
        # its own count (polling the table would cost this process CPU); it has no event to wait on
        while delivery.delivered < events:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return time.perf_counter() - began, time.process_time() - cpu
    finally:
        await delivery.close()
        async with sessions() as db:
            assert await WebhookEventRepository(db).pending() == 0
        await engine.dispose()


async def plain_client(url: str, events: int, entities: int) -> tuple[float, float]:
    """Seconds CONCURRENCY bare httpx clients (one connection each, as the delivery task's)
    take to POST as many bodies, and the CPU seconds they spent."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    payloads = [body("stream", {"stream": {"id": n % entities + 1, "n": n}}).encode() for n in range(events)]
    clients = [httpx.AsyncClient(limits=limits, trust_env=False) for _ in range(CONCURRENCY)]
    share = iter(payloads)

    async def post_all(client: httpx.AsyncClient) -> None:
        for payload in share:
            await client.post(url, content=payload, headers={"Content-Type": "application/json"})

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(post_all(client) for client in clients))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    for client in clients:
        await client.aclose()
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--entities", type=int, default=100, help="streams the events are spread over")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    smoke.add_flag(parser)
    args = parser.parse_args()
    events, entities = (300, 10) if args.smoke else (args.events, args.entities)
    port = free_port()
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=receive, args=(port, theirs), daemon=True)
    process.start()
    assert ours.poll(30) and ours.recv() == "ready"
    url = f"http://127.0.0.1:{port}/hooks"
    plain_before = asyncio.run(plain_client(url, events, entities))
    with tempfile.TemporaryDirectory() as temp:
        settings = Settings(
            data_dir=Path(temp),
            database_url=args.database_url,
            webhook_url=url,
            webhook_secret="bench-secret",
        )
        upgrade(settings.resolved_database_url)
        asyncio.run(queue_events(settings, events, entities))
        seconds, cpu = asyncio.run(drain(settings, events))
    ours.send("report")
    received, disorder = ours.recv()
    plain_after = asyncio.run(plain_client(url, events, entities))
    plain, plain_cpu = ((a + b) / 2 for a, b in zip(plain_before, plain_after, strict=True))
    ours.send("stop")
    process.join(10)
    rate, plain_rate = events / seconds, events / plain
    per_event, plain_per_event = cpu / events * 1e6, plain_cpu / events * 1e6
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"events: {events} queued over {entities} streams ({database}), {CONCURRENCY} connections")
    print(f"webhook drain : {rate:8.0f} events/s ({seconds:.2f} s; received {received}, out of order {disorder})")
    print(f"plain client  : {plain_rate:8.0f} req/s (same bodies, no database, no signing)")
    print(
        f"CPU per event : drain {per_event:.0f} µs, plain client {plain_per_event:.0f} µs "
        f"(one free core: {1e6 / per_event:.0f} events/s)"
    )
    print(f"ratio drain / {BOUND:.0f}/s bound: {rate / BOUND:.2f}")
    print(f"ratio drain / plain client: {smoke.ratio(rate, plain_rate):.2f}")


if __name__ == "__main__":
    main()
