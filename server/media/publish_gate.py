"""Who may publish: one set of checks, run on the loop for every admission and, from memory,
on libsrt's thread for SRT's listen callback.

A publisher may publish when its stream exists, is active, the token matches, no other kind
of source feeds the stream (pull, WHIP) and its slot (main: app `in`, backup: app `backup`)
is free. `check` decides it from two facts: the stream's `Credentials` (its row) and its
`Occupancy` (what feeds it now). The supervisor's `authorize` reads both fresh; SRT's listen
callback must answer at once without waiting on the node (it holds libsrt's receive thread,
hence every SRT stream), so the `PublishGate` keeps both in memory, kept current by the node
on the loop: filled at start, updated on every stream change and every source or publisher
that comes or goes. Its maps are replaced whole, never edited in place, so the callback's
thread always reads a consistent map without a lock.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from ingest.publish import PublishRejected, PublishRequest
from server.db.models import Stream
from server.media.push import BACKUP, MAIN
from server.urls import BACKUP_APP, MAIN_APP, stream_number

SLOTS = {MAIN_APP: MAIN, BACKUP_APP: BACKUP}


@dataclass(frozen=True)
class Credentials:
    """What a stream's row says about who may publish to it."""

    token: str
    active: bool
    passphrase: str | None  # SRT's; None: unencrypted

    @classmethod
    def of(cls, stream: Stream) -> Credentials:
        return cls(stream.token, stream.active, stream.srt_passphrase)


@dataclass(frozen=True)
class Occupancy:
    """What feeds a stream on this node now."""

    other_kind: bool = False  # a pull or WHIP source: pushes are refused
    slots: frozenset[str] = frozenset()  # the slots that have a publisher


FREE = Occupancy()


def requested(request: PublishRequest) -> tuple[str, int]:
    """The slot and the stream id a publisher asks for, or PublishRejected (unknown)."""
    slot = SLOTS.get(request.app)
    if slot is None:
        raise PublishRejected(f"unknown application {request.app!r}", unknown_stream=True)
    stream_id = stream_number(request.name)
    if stream_id is None:
        raise PublishRejected("unknown stream", unknown_stream=True)
    return slot, stream_id


def check(request: PublishRequest, credentials: Credentials | None, occupancy: Occupancy) -> str:
    """The slot the publisher takes, or PublishRejected with the reason it is refused."""
    slot, stream_id = requested(request)
    if credentials is None:
        raise PublishRejected(f"unknown stream {stream_id}", unknown_stream=True)
    if not hmac.compare_digest(request.query.encode(), credentials.token.encode()):
        raise PublishRejected(f"wrong token for stream {stream_id}")
    if not credentials.active:
        raise PublishRejected(f"stream {stream_id} is not active")
    if occupancy.other_kind:
        raise PublishRejected(f"stream {stream_id} is fed by a pull source or a WHIP session", busy=True)
    if slot in occupancy.slots:
        raise PublishRejected(f"stream {stream_id} already has a {slot} publisher", busy=True)
    return slot


class PublishGate:
    """The node's credentials and occupancy of every stream, readable from any thread."""

    def __init__(self) -> None:
        self._credentials: dict[int, Credentials] = {}
        self._occupancy: dict[int, Occupancy] = {}

    def vet(self, request: PublishRequest) -> str | None:
        """`check` from memory (any thread, never blocks): the stream's SRT passphrase."""
        _, stream_id = requested(request)
        credentials = self._credentials.get(stream_id)
        check(request, credentials, self._occupancy.get(stream_id, FREE))
        assert credentials is not None
        return credentials.passphrase

    def load(self, streams: dict[int, Credentials]) -> None:
        self._credentials = dict(streams)

    def stream_changed(self, stream_id: int, credentials: Credentials | None) -> None:
        """The stream's row as it is now (None: deleted)."""
        changed = dict(self._credentials)
        if credentials is None:
            changed.pop(stream_id, None)
        else:
            changed[stream_id] = credentials
        self._credentials = changed

    def occupied(self, stream_id: int, occupancy: Occupancy) -> None:
        changed = dict(self._occupancy)
        if occupancy == FREE:
            changed.pop(stream_id, None)
        else:
            changed[stream_id] = occupancy
        self._occupancy = changed
