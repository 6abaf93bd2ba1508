"""Deterministic mutations of real captures: what the suite's short pass feeds each harness
and what `bench/live_fuzz.py` sends to a node's ports.

Each mutation is one of the ways hostile or broken peers differ from a good one: bits
flipped, the input cut short, two inputs spliced, a length field blown up (1, 2 or 4 bytes
set to their maximum or to a huge value), bytes inserted or repeated.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

BLOW_UPS = (b"\xff", b"\xff\xff", b"\x7f\xff", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00")


def flip(rng: random.Random, data: bytes, other: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes, other: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def splice(rng: random.Random, data: bytes, other: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


def blow_up(rng: random.Random, data: bytes, other: bytes) -> bytes:
    field = rng.choice(BLOW_UPS)
    at = rng.randrange(len(data) + 1)
    return data[:at] + field + data[at + len(field) :]


def insert(rng: random.Random, data: bytes, other: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    if rng.random() < 0.5:
        piece = rng.randbytes(rng.randint(1, 64))
    else:
        start = rng.randrange(len(data) + 1)
        piece = data[start : start + rng.randint(1, 512)] * rng.randint(1, 4)
    return data[:at] + piece + data[at:]


MUTATIONS = (flip, truncate, splice, blow_up, insert)


def mutate(rng: random.Random, data: bytes, other: bytes) -> bytes:
    """One to three mutations of `data` (`other`: what a splice takes its tail from)."""
    for _ in range(rng.randint(1, 3)):
        data = rng.choice(MUTATIONS)(rng, data, other)
    return data


def mutations(seeds: list[bytes], count: int, seed: int) -> Iterator[bytes]:
    """`count` mutated inputs of `seeds`, the same ones for the same `seed`."""
    rng = random.Random(seed)
    for _ in range(count):
        yield mutate(rng, rng.choice(seeds), rng.choice(seeds))
