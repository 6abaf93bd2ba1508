"""Every kind of stream session hands its worker's events to the same dispatch
(server/media/worker_events.py): a rendition shed for load leaves `transcoded_qualities` of a
pulled or WHIP stream as it does of a pushed one (pull and WHIP sessions used to dispatch on
their own and ignored `degraded`)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import ClassVar

import pytest

from server.media import pull as pull_module
from server.media import source as source_module
from server.media.pull import PullManager
from server.media.source import Sources
from server.media.succession import Succession
from server.media.whip import WhipSessions
from server.media.worker_starts import WorkerStarts
from server.settings import Settings
from transcode.contract import Degraded, KeepOverlays, Started, WhipAnswer, WorkerConfig


class RecordingStatus:
    def __init__(self) -> None:
        self.values: dict[int, dict] = {}

    def set(self, stream_id: int, **values) -> None:
        self.values.setdefault(stream_id, {}).update(values)

    def went_live(self, stream_id: int, source_type: str, started: Started) -> None:
        self.set(stream_id, live=True, stream_source_type=source_type, transcoded_qualities=started.renditions)

    def went_offline(self, stream_id: int) -> None:
        self.set(stream_id, live=False)


class StandInOverlays:
    """The node's overlays as a new worker is told them (server/overlays/live.py)."""

    def __init__(self) -> None:
        self.current: list = []

    def commands(self, stream_id: int) -> list:
        return list(self.current)


class StandInRecordings:
    """No stream records (tests/media/test_recordings.py has recordings)."""

    def commands(self, stream_id: int, worker) -> list:
        return []

    def worker_exited(self, stream_id: int, worker) -> None:
        pass


class StandInRestreams:
    """No stream restreams (tests/media/test_restreams.py has restreams)."""

    def commands(self, stream_id: int, worker) -> list:
        return []

    def worker_exited(self, worker) -> None:
        pass


class StandInSupervisor:
    def __init__(self, directory) -> None:
        self.settings = Settings(worker_restart_limit=0)
        self.status = RecordingStatus()
        self.directory = directory
        self.successions: dict[int, Succession] = {}
        self.sources = Sources()
        self.overlays = StandInOverlays()
        self.recordings = StandInRecordings()
        self.restreams = StandInRestreams()
        self.worker_starts = WorkerStarts(burst=100, refill=1)  # never the limit here

    def succession(self, stream_id: int) -> Succession:
        return self.successions.setdefault(stream_id, Succession(stream_id, self.directory / str(stream_id)))

    def worker_config(self, stream_id, mpegts_endlist, renditions, **source) -> WorkerConfig:
        return WorkerConfig(stream_id=stream_id, out_dir=str(self.directory / str(stream_id)), **source)

    @asynccontextmanager
    async def owning(self, stream_id: int):
        """A node alone: every stream's lease is its own (server/cluster/)."""
        yield


class CapturedWorker:
    """Stands in for WorkerProcess: keeps the handler its session gives it."""

    instances: ClassVar[list[CapturedWorker]] = []

    def __init__(self, stream_id: int, on_event) -> None:
        self.on_event = on_event
        self.done = asyncio.Event()
        self.process = None
        self.commands: list = []  # sent before and after the start
        self.killed = False
        CapturedWorker.instances.append(self)

    async def start(self, config: WorkerConfig) -> None:
        self.config = config

    async def wait(self, timeout=None) -> int:
        await self.done.wait()
        return -9 if self.killed else 0

    def send(self, *commands) -> bool:
        self.commands.extend(commands)
        return True

    def finish(self) -> None:
        self.done.set()

    def kill(self) -> None:
        self.killed = True
        self.done.set()


class Stream:
    id = 9
    uri = "http://127.0.0.1:1/a.m3u8"
    hls_mpegts_endlist_tag = True
    pull = active = True
    html_overlay = False


@pytest.fixture
def supervisor(tmp_path, monkeypatch) -> StandInSupervisor:
    CapturedWorker.instances = []
    monkeypatch.setattr(source_module, "WorkerProcess", CapturedWorker)
    return StandInSupervisor(tmp_path)


async def started_worker() -> CapturedWorker:
    await asyncio.sleep(0.01)
    (worker,) = CapturedWorker.instances
    return worker


def shed(worker: CapturedWorker, **source) -> None:
    worker.on_event(Started(renditions=["origin", "720p", "360p"], **source))
    worker.on_event(Degraded(dropped="720p", reason="behind real time", renditions=["origin", "360p"]))


async def test_a_pulled_stream_loses_a_shed_rendition_from_its_status(supervisor):
    session = pull_module.PullSession(PullManager(supervisor), Stream(), [])
    session.start()
    worker = await started_worker()
    assert worker.config.pull_urls == (Stream.uri,)
    shed(worker, source_type="https", source_url="http://127.0.0.1:1/a.m3u8")
    assert supervisor.status.values[9]["transcoded_qualities"] == ["origin", "360p"]
    await session.stop()
    assert supervisor.status.values[9]["live"] is False


async def test_a_whip_stream_loses_a_shed_rendition_from_its_status(supervisor):
    sessions = WhipSessions(supervisor)
    opening = asyncio.create_task(sessions.open(Stream(), "v=0 offer", []))
    worker = await started_worker()
    assert worker.config.whip_offer == "v=0 offer"
    worker.on_event(WhipAnswer(sdp="v=0 answer"))
    session, answer = await opening
    assert answer == "v=0 answer"
    shed(worker)
    assert supervisor.status.values[9]["transcoded_qualities"] == ["origin", "360p"]
    assert supervisor.status.values[9]["stream_source_type"] == "webrtc"
    session.stop()
    await asyncio.sleep(0.01)
    assert supervisor.status.values[9]["live"] is False


async def test_a_pulled_stream_switched_to_html_overlay_gets_a_new_worker_at_once(supervisor):
    """The origin's encoding changes: the pull worker is replaced by one with `overlays`, which
    is told the stream's overlays first; the stream stays live and no restart is counted."""
    supervisor.overlays.current = [KeepOverlays(overlay_ids=[3])]
    session = pull_module.PullSession(PullManager(supervisor), Stream(), [])
    session.start()
    first = await started_worker()
    assert first.config.overlays is False
    first.on_event(Started(renditions=["origin"], source_type="https", source_url=Stream.uri))
    session.set_html_overlay(True)
    await asyncio.sleep(0.01)
    assert first.killed
    second = CapturedWorker.instances[-1]
    assert second is not first and second.config.overlays is True
    assert second.commands == [KeepOverlays(overlay_ids=[3])]
    assert supervisor.status.values[9]["live"] is True and session.restarts == 0
    await session.stop()
    assert len(CapturedWorker.instances) == 2


async def test_a_whip_session_draws_the_overlays_and_keeps_its_worker_when_html_overlay_switches(supervisor):
    """The peer lives in the worker: a switch applies from the browser's next session, while
    the overlays the stream has are sent to this one."""
    supervisor.overlays.current = [KeepOverlays(overlay_ids=[3])]
    sessions = WhipSessions(supervisor)
    opening = asyncio.create_task(sessions.open(OverlaidStream(), "v=0 offer", []))
    worker = await started_worker()
    assert worker.config.overlays is True and worker.commands == [KeepOverlays(overlay_ids=[3])]
    worker.on_event(WhipAnswer(sdp="v=0 answer"))
    session, _ = await opening
    session.set_html_overlay(False)
    await asyncio.sleep(0.01)
    assert not worker.killed and session.worker is worker and CapturedWorker.instances == [worker]
    session.stop()
    await asyncio.sleep(0.01)


class OverlaidStream(Stream):
    html_overlay = True
