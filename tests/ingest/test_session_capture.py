"""An RtmpSession fed a real ffmpeg publish capture (client → server bytes), whole, split,
truncated and mutated. The capture (tests/ingest/data/ffmpeg_publish.bin: 1 s of 160x120
H.264 + AAC published by ffmpeg 5.1 to rtmp://…/in/capture?tok3n) includes C0/C1/C2,
which the server does not check beyond the version byte, so it replays as is."""

import asyncio
import logging
import random
from pathlib import Path

import pytest

from ingest.flv import is_sequence_header
from ingest.media import AUDIO, DATA, VIDEO
from ingest.rtmp.session import RtmpSession, SessionLimits

CAPTURE = (Path(__file__).parent / "data" / "ffmpeg_publish.bin").read_bytes()


@pytest.fixture
def authorizer(authorizer):
    authorizer.token = "tok3n"
    return authorizer


class MemoryTransport(asyncio.Transport):
    """Collects what the session writes; closing reports connection_lost like a socket."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.protocol: RtmpSession | None = None
        self._closing = False
        self.reading_calls: list[str] = []
        self.paused = False

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 50000) if name == "peername" else default

    def write(self, data) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def pause_reading(self) -> None:
        self.reading_calls.append("pause")
        self.paused = True

    def resume_reading(self) -> None:
        self.reading_calls.append("resume")
        self.paused = False


async def replay(
    authorizer, pieces: list[bytes], disconnect: bool = True, limits: SessionLimits | None = None
) -> tuple[RtmpSession, MemoryTransport]:
    limits = limits or SessionLimits()
    closed: list[RtmpSession] = []
    session = RtmpSession(authorizer, "rtmp", limits, closed.append)
    transport = MemoryTransport()
    transport.protocol = session
    session.connection_made(transport)
    for piece in pieces:
        if transport.is_closing():
            break
        while transport.paused and not transport.is_closing():  # noqa: ASYNC110 (the fake transport has no event)
            await asyncio.sleep(0.001)  # a paused socket delivers nothing
        session.data_received(piece)
        await asyncio.sleep(0)  # let a pending authorization run
    await asyncio.sleep(0)
    if disconnect and not transport.is_closing():
        transport.close()
    await asyncio.sleep(0)
    assert closed == [session]
    return session, transport


def split(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), count))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


async def test_whole_capture(authorizer):
    await replay(authorizer, [CAPTURE])
    sink = authorizer.sinks["capture"]
    assert authorizer.requests[0].query == "tok3n"
    assert sink.close_reasons == ["unpublished"]
    kinds = [m.kind for m in sink.messages]
    assert kinds[0] == DATA and kinds.count(VIDEO) >= 11 and kinds.count(AUDIO) >= 20  # 10 frames + config
    first_video = next(m for m in sink.messages if m.kind == VIDEO)
    first_audio = next(m for m in sink.messages if m.kind == AUDIO)
    assert is_sequence_header(first_video) and is_sequence_header(first_audio)


@pytest.mark.parametrize("seed", range(4))
async def test_random_splits_give_the_same_messages(authorizer, seed):
    await replay(authorizer, [CAPTURE])
    reference = authorizer.sinks.pop("capture").messages
    await replay(authorizer, split(CAPTURE, random.Random(seed), 400))
    assert authorizer.sinks["capture"].messages == reference


async def test_byte_by_byte(authorizer):
    await replay(authorizer, [CAPTURE])
    reference = authorizer.sinks.pop("capture").messages
    await replay(authorizer, [CAPTURE[i : i + 1] for i in range(len(CAPTURE))])
    assert authorizer.sinks["capture"].messages == reference


async def test_every_truncation_closes_once_and_keeps_a_prefix(authorizer, caplog):
    await replay(authorizer, [CAPTURE])
    reference = authorizer.sinks.pop("capture").messages
    for cut in range(0, len(CAPTURE), 97):
        await replay(authorizer, [CAPTURE[:cut]])
        sink = authorizer.sinks.pop("capture", None)
        if sink is not None:
            assert len(sink.close_reasons) == 1
            assert sink.messages == reference[: len(sink.messages)]
    assert "unexpected error" not in caplog.text


async def test_mutations_fail_cleanly(authorizer, caplog):
    caplog.set_level(logging.WARNING, logger="headwater.ingest.rtmp")
    rng = random.Random(11)
    delivered = 0
    for _ in range(300):
        mutated = bytearray(CAPTURE)
        for _ in range(rng.randrange(1, 6)):
            position = rng.randrange(3073, len(mutated))  # past the handshake
            mutated[position] = rng.randrange(256)
        await replay(authorizer, split(bytes(mutated), rng, 20))
        for sink in authorizer.sinks.values():
            assert len(sink.close_reasons) == 1
            delivered += len(sink.messages)
        authorizer.sinks.clear()
    assert "unexpected error" not in caplog.text
    assert delivered > 1000  # the mutations did not all stop at the door


async def test_a_publishing_socket_rests_after_each_read(authorizer):
    """`read_interval`: once publishing, every short read pauses the socket for that long;
    the messages are the same as without resting."""
    await replay(authorizer, [CAPTURE])
    reference = authorizer.sinks.pop("capture").messages
    pieces = split(CAPTURE, random.Random(5), 40)
    _, transport = await replay(authorizer, pieces, limits=SessionLimits(read_interval=0.005))
    assert authorizer.sinks["capture"].messages == reference
    # one pause for the authorization, then one per read once published
    assert transport.reading_calls.count("pause") > len(pieces) // 2


async def test_a_full_read_does_not_rest(authorizer, monkeypatch):
    """A read that fills the read size means more is waiting: read on at once."""
    tail = CAPTURE[3073:]
    pieces = [CAPTURE[:3073]] + [tail[i : i + 2000] for i in range(0, len(tail), 2000)]
    limits = SessionLimits(read_interval=0.005)
    _, short_reads = await replay(authorizer, pieces, limits=limits)
    monkeypatch.setattr("ingest.rtmp.session.FULL_READ", 2000)
    _, full_reads = await replay(authorizer, pieces, limits=limits)
    assert short_reads.reading_calls.count("pause") >= len(pieces) - 4
    assert full_reads.reading_calls.count("pause") <= 3  # authorization, its catch-up, the last read
