"""PushSession's choice of source, with a stand-in worker that records its input records
and a controlled clock: which publisher feeds the one worker, and when it switches."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import ClassVar

import pytest

from ingest.media import VIDEO, MediaMessage
from ingest.publish import PublishRequest
from server.media import push as push_module
from server.media import source as source_module
from server.media.push import BACKUP, MAIN, PushSession
from server.media.worker_starts import WorkerStarts
from server.settings import Settings
from transcode.contract import DATA_RECORD as DATA
from transcode.contract import RECORD_HEADER as HEADER
from transcode.contract import START_RECORD as START
from transcode.contract import WorkerConfig, encode_command

TIMEOUT = 4.0


class FakeWorker:
    instances: ClassVar[list[FakeWorker]] = []

    def __init__(self, stream_id, on_event) -> None:
        self.input = bytearray()
        self.finished = asyncio.Event()
        FakeWorker.instances.append(self)

    async def start(self, config) -> None:
        self.config = config

    async def wait(self, timeout=None) -> int:
        await self.finished.wait()
        return 0

    def feed(self, data: bytes, *, hold: bool = False) -> bool:
        self.input += data
        return True

    def send(self, *commands) -> bool:
        return self.feed(b"".join(encode_command(command) for command in commands))

    def finish(self) -> None:
        self.finished.set()

    def kill(self) -> None:
        self.finished.set()

    def records(self) -> list[tuple[bytes, bytes]]:
        out, position = [], 0
        while position < len(self.input):
            kind, length = HEADER.unpack_from(self.input, position)
            position += HEADER.size
            out.append((kind, bytes(self.input[position : position + length])))
            position += length
        return out

    def inputs(self) -> list[bytes]:
        """The data of each input, in order (what each publisher contributed)."""
        result = []
        for kind, payload in self.records():
            if kind == START:
                result.append(b"")
            elif kind == DATA:
                result[-1] += payload
        return result


class FakeStatus:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append(name)


class FakeSupervisor:
    def __init__(self, clock=None) -> None:
        self.settings = Settings(failover_timeout=TIMEOUT, publish_idle_timeout=30)
        self.worker_starts = WorkerStarts(burst=2, refill=10, clock=clock or Clock())
        self.status = FakeStatus()
        self.ended = []
        self.overlays = FakeOverlays()
        self.recordings = FakeRecordings()
        self.restreams = FakeRestreams()

    def occupancy_changed(self, stream_id):
        pass

    def worker_config(self, stream_id, mpegts_endlist, renditions, **source):
        return WorkerConfig(stream_id=stream_id, out_dir="/nonexistent", **source)

    def succession(self, stream_id):
        return FakeSuccession()

    def session_ended(self, session):
        self.ended.append(session)

    def slot_left(self, stream_id, slot):
        pass


class FakeOverlays:
    def commands(self, stream_id) -> list:
        return []


class FakeRecordings:
    """No stream records (tests/media/test_recordings.py has recordings)."""

    def commands(self, stream_id, worker) -> list:
        return []

    def worker_exited(self, stream_id, worker) -> None:
        pass


class FakeRestreams:
    """No stream restreams (tests/media/test_restreams.py has restreams)."""

    def commands(self, stream_id, worker) -> list:
        return []

    def worker_exited(self, worker) -> None:
        pass


class FakeSuccession:
    """No predecessor to wait for, no delivery state (tests/media/test_succession.py has those)."""

    @asynccontextmanager
    async def turn(self, worker):
        yield None

    def end(self, worker) -> None:
        pass


class Stream:
    id = 1
    hls_mpegts_endlist_tag = True
    html_overlay = False


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(push_module.time, "monotonic", clock)
    monkeypatch.setattr(source_module, "WorkerProcess", FakeWorker)
    FakeWorker.instances = []
    return clock


def keyframe(tag: bytes) -> MediaMessage:
    return MediaMessage(VIDEO, 0, b"\x17\x01\x00\x00\x00" + tag)


def inter(tag: bytes) -> MediaMessage:
    return MediaMessage(VIDEO, 0, b"\x27\x01\x00\x00\x00" + tag)


def join(session: PushSession, slot: str):
    app = "in" if slot == MAIN else "backup"
    return session.join(slot, PublishRequest("rtmp", app, "1", "token", f"{slot}:1"))


async def new_session(clock) -> tuple[PushSession, FakeSupervisor]:
    supervisor = FakeSupervisor(clock)
    return PushSession(supervisor, Stream()), supervisor


async def test_main_feeds_the_worker_backup_waits(clock):
    session, supervisor = await new_session(clock)
    main, backup = join(session, MAIN), join(session, BACKUP)
    backup.write(keyframe(b"B1"))  # a just-connected main is waited for
    assert not FakeWorker.instances
    main.write(inter(b"M0"))
    main.write(keyframe(b"M1"))
    backup.write(keyframe(b"B2"))
    main.write(inter(b"M2"))
    (worker,) = FakeWorker.instances
    assert next(k for k, _ in worker.records()) == START
    (only,) = worker.inputs()
    assert b"M1" in only and b"M2" in only and b"M0" not in only and b"B" not in only
    assert "backup_joined" in supervisor.status.calls
    session._end()


async def test_silent_main_fails_over_at_the_backups_keyframe_and_comes_back(clock):
    session, _ = await new_session(clock)
    main, backup = join(session, MAIN), join(session, BACKUP)
    main.write(keyframe(b"M1"))
    backup.write(keyframe(b"B0"))
    clock.now += TIMEOUT - 1
    backup.write(keyframe(b"B1"))
    session._choose()
    assert session.active is main  # not silent long enough yet
    clock.now += 2
    session._choose()
    backup.write(inter(b"B2"))  # the switch waits for a keyframe
    backup.write(keyframe(b"B3"))
    assert session.active is backup and session.source_type == "rtmp"
    main.write(inter(b"M2"))  # main sends again: armed, switches at its keyframe
    backup.write(inter(b"B4"))
    main.write(keyframe(b"M3"))
    backup.write(inter(b"B5"))
    worker = FakeWorker.instances[0]
    first, second, third = worker.inputs()
    assert b"M1" in first and b"B" not in first
    assert b"B3" in second and b"B4" in second and b"B2" not in second and b"M" not in second
    assert b"M3" in third and b"B5" not in third and b"M2" not in third
    assert len(FakeWorker.instances) == 1  # one worker throughout
    session._end()


async def test_main_leaving_switches_at_once_and_last_publisher_leaving_ends(clock):
    session, supervisor = await new_session(clock)
    main, backup = join(session, MAIN), join(session, BACKUP)
    main.write(keyframe(b"M1"))
    backup.write(inter(b"B0"))
    main.close("gone")
    backup.write(keyframe(b"B1"))
    worker = FakeWorker.instances[0]
    assert b"B1" in worker.inputs()[1]
    backup.close("gone")
    assert worker.finished.is_set() and supervisor.ended == [session]
    assert "backup_left" in supervisor.status.calls


async def test_main_connected_but_never_sending_yields_to_the_backup(clock):
    session, _ = await new_session(clock)
    join(session, MAIN)
    backup = join(session, BACKUP)
    backup.write(keyframe(b"B0"))
    assert not FakeWorker.instances
    clock.now += TIMEOUT + 1
    backup.write(keyframe(b"B1"))
    backup.write(keyframe(b"B2"))
    assert b"B2" in FakeWorker.instances[0].inputs()[0]
    session._end()


async def test_a_worker_flooded_while_waiting_its_turn_is_dropped_and_the_next_keyframe_starts_another(
    clock, monkeypatch
):
    """The real WorkerProcess, its turn held back (a predecessor still finishing): past
    MAX_PENDING_BYTES it is cancelled, never spawned; the publisher stays, and its next
    keyframe gets a new worker in line."""
    from server.media import worker_process

    monkeypatch.setattr(source_module, "WorkerProcess", worker_process.WorkerProcess)
    monkeypatch.setattr(worker_process, "MAX_PENDING_BYTES", 64)
    spawned = []

    async def spawn(*args, **kwargs):
        spawned.append(args)
        raise OSError("not in this test")

    monkeypatch.setattr(worker_process.asyncio, "create_subprocess_exec", spawn)
    released = asyncio.Event()

    class HeldSuccession(FakeSuccession):
        @asynccontextmanager
        async def turn(self, worker):
            await released.wait()
            yield None

    session, supervisor = await new_session(clock)
    supervisor.succession = lambda stream_id: HeldSuccession()
    main = join(session, MAIN)
    main.write(keyframe(b"K1"))
    first = session.worker
    for _ in range(10):
        main.write(inter(b"x" * 20))
    assert first.cancelled and session.worker is None
    released.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert session.crashed is first and spawned == []
    main.write(inter(b"y"))
    main.write(keyframe(b"K2"))
    second = session.worker
    assert second is not None and second is not first and not second.cancelled
    second.kill()  # not spawned either: the test ends without a process
    for _ in range(3):
        await asyncio.sleep(0)
    assert spawned == []
    session._end()


async def test_switching_html_overlay_replaces_the_worker_at_the_next_keyframe(clock):
    """The origin's encoding changes: a new worker with `overlays` from the active publisher's
    next keyframe, the old one's state handed over as after a crash, the publisher kept."""
    session, supervisor = await new_session(clock)
    main = join(session, MAIN)
    main.write(keyframe(b"K1"))
    await asyncio.sleep(0)
    first = FakeWorker.instances[0]
    assert first.config.overlays is False
    session.set_html_overlay(True)
    await asyncio.sleep(0)
    assert session.worker is None and session.crashed is first and session.restarts == 0
    main.write(inter(b"P1"))  # no worker before a keyframe
    assert len(FakeWorker.instances) == 1
    main.write(keyframe(b"K2"))
    await asyncio.sleep(0)
    second = FakeWorker.instances[1]
    (only,) = second.inputs()
    assert second.config.overlays is True and b"K2" in only and b"P1" not in only
    assert session.slots[MAIN] is main and supervisor.ended == []
    session.set_html_overlay(True)  # no change: the worker stays
    assert session.worker is second


async def test_a_stream_out_of_worker_starts_keeps_its_publisher_until_a_keyframe_after_one_is_back(clock, caplog):
    """Publications in a loop (2 starts, one more every 10 s here): the third publisher stays
    connected without a worker; its first keyframe once a start is regained starts one."""
    supervisor = FakeSupervisor(clock)
    for n in range(2):
        session = PushSession(supervisor, Stream())
        join(session, MAIN).write(keyframe(b"K%d" % n))
        assert len(FakeWorker.instances) == n + 1
        session._end()
    session = PushSession(supervisor, Stream())
    main = join(session, MAIN)
    main.write(keyframe(b"early"))
    clock.now += 5
    main.write(keyframe(b"still early"))
    assert len(FakeWorker.instances) == 2 and session.worker is None and session.slots[MAIN] is main
    assert caplog.text.count("worker starts within") == 1  # one line for the burst
    clock.now += 5
    main.write(inter(b"P"))
    main.write(keyframe(b"K2"))
    (only,) = FakeWorker.instances[2].inputs()
    assert only.count(b"K2") == 1 and b"early" not in only and b"P" not in only
    session._end()
