"""The node's memory of who may publish (server/media/publish_gate.py): what SRT's listen
callback admits from, with the same refusals as `authorize`."""

from __future__ import annotations

import pytest

from ingest.publish import PublishRejected, PublishRequest
from server.media.publish_gate import FREE, Credentials, Occupancy, PublishGate
from server.media.push import MAIN


def request(app: str = "in", name: str = "7", token: str = "t0ken") -> PublishRequest:
    return PublishRequest("srt", app, name, token, "192.0.2.1:4000")


def refusal(gate: PublishGate, req: PublishRequest) -> PublishRejected:
    with pytest.raises(PublishRejected) as refused:
        gate.vet(req)
    return refused.value


def test_the_gate_follows_the_node_and_refuses_as_authorize_does():
    gate = PublishGate()
    assert refusal(gate, request()).unknown_stream  # not loaded yet: unknown, at once
    gate.load({7: Credentials("t0ken", True, "correct-horse-battery")})
    assert gate.vet(request()) == "correct-horse-battery"
    assert refusal(gate, request(app="other")).unknown_stream
    assert refusal(gate, request(name="x")).unknown_stream
    wrong = refusal(gate, request(token="guess"))
    assert not wrong.unknown_stream and not wrong.busy and wrong.reason == "wrong token for stream 7"
    gate.occupied(7, Occupancy(slots=frozenset({MAIN})))
    assert refusal(gate, request()).busy
    assert gate.vet(request(app="backup")) == "correct-horse-battery"  # the backup slot is free
    gate.occupied(7, Occupancy(other_kind=True))
    assert "pull source or a WHIP session" in refusal(gate, request(app="backup")).reason
    gate.occupied(7, FREE)
    gate.stream_changed(7, Credentials("t0ken", False, None))
    assert refusal(gate, request()).reason == "stream 7 is not active"
    gate.stream_changed(7, None)
    assert refusal(gate, request()).unknown_stream
