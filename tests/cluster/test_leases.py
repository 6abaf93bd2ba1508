"""The lease code against a real PostgreSQL: one holder per key, whatever races for it."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text

from server.db.engine import create_engine_for, db_session_factory
from server.db.leases import SharedLeases
from server.db.migrate import upgrade

NODES = 8
ROUNDS = 25


@pytest.fixture
async def nodes(postgres_server):
    """NODES lease clients, each on its own engine (its own connections), as separate nodes are."""
    url = postgres_server.create_database()
    await asyncio.to_thread(upgrade, url)
    engines = [create_engine_for(url) for _ in range(NODES)]
    yield [SharedLeases(db_session_factory(e), f"node-{n}", ttl=5.0) for n, e in enumerate(engines)]
    for engine in engines:
        await engine.dispose()


async def expire(leases: SharedLeases, key: str) -> None:
    async with leases.db_sessions() as db:
        await db.execute(text("UPDATE leases SET expires_at = now() - interval '1 second' WHERE key = :k"), {"k": key})
        await db.commit()


async def test_concurrent_claims_never_give_two_holders(nodes):
    """Seeded rounds: a random set of nodes claim one key at the same moment (each several
    times), the lease free, held by one of them, held by an outsider, or expired. Exactly the
    claimants whose answer is their own id hold it: at most one, the row's node, and a live
    lease held by someone else is never taken."""
    rng = random.Random(24)
    for round_ in range(ROUNDS):
        key = f"stream/{round_}"
        before = rng.choice(["free", "held", "expired"])
        holder_before = rng.choice(nodes) if before != "free" else None
        if holder_before is not None:
            assert await holder_before.claim(key) == holder_before.node_id
            if before == "expired":
                await expire(holder_before, key)
        claimants = rng.sample(nodes, rng.randint(2, NODES))
        attempts = [c for c in claimants for _ in range(rng.randint(1, 3))]
        rng.shuffle(attempts)
        answers = await asyncio.gather(*(c.claim(key) for c in attempts))
        winners = {c.node_id for c, answer in zip(attempts, answers, strict=True) if answer == c.node_id}
        assert len(winners) <= 1, f"round {round_}: {winners} all hold {key}"
        stored = await nodes[0].holder(key)
        if before == "held":
            assert stored == holder_before.node_id  # a live lease is never taken
            assert winners <= {holder_before.node_id}
        else:
            assert winners == {stored}  # free or expired: one of the claimants got it
        assert all(answer in (None, stored) for answer in answers)  # everyone was told the holder


async def test_renew_keeps_only_what_is_still_ours_and_release_frees(nodes):
    first, second = nodes[0], nodes[1]
    assert await first.claim("stream/a") == first.node_id
    assert await first.claim("stream/b") == first.node_id
    assert await second.claim("stream/a") == first.node_id
    await expire(first, "stream/a")
    assert await second.claim("stream/a") == second.node_id  # expired: taken over
    async with first.db_sessions() as db:
        kept = await first.renew(db, {"stream/a", "stream/b"})
        await db.commit()
    assert kept == {"stream/b"}  # a is the second node's now
    assert await second.held_elsewhere() == {"stream/b": first.node_id}
    await second.release("stream/b")  # not its lease: nothing happens
    assert await second.holder("stream/b") == first.node_id
    await first.release("stream/b")
    assert await second.claim("stream/b") == second.node_id
