"""A new kind of source is one new module: a `StreamSource` subclass (here, one a test defines)
registered in the node's `Sources` holds its stream against every ingest, runs its workers
through the stream's succession with the config fields it adds, and reports its own source
type, with no check added anywhere else."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ingest.publish import PublishRejected, PublishRequest
from server.db.engine import create_engine_for, db_session_factory
from server.db.migrate import upgrade
from server.db.models import Overlay, Stream
from server.media import source as source_module
from server.media.push import PushSession
from server.media.source import StreamSource
from server.media.supervisor import Supervisor
from server.media.whip import WhipRefused, WhipSessions
from server.settings import Settings
from tests.media.test_worker_events import CapturedWorker, RecordingStatus
from tests.overlays.test_live import FakeRenderer
from transcode.contract import KeepOverlays, SetOverlay, Started

TOKEN = "a-stream-token"


class ScreenSource(StreamSource):
    """A kind of source the node does not have (say, a screen grabber in the worker)."""

    kind = "screen"

    @property
    def source_type(self) -> str:
        return "screen"

    def worker_source(self) -> dict[str, Any]:
        return {"pull_urls": ("screen://0",)}


@pytest.fixture
async def supervisor(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'headwater.db'}"
    upgrade(url)
    engine = create_engine_for(url)
    supervisor = Supervisor(Settings(data_dir=tmp_path), db_session_factory(engine))
    supervisor.status = RecordingStatus()
    async with supervisor.db_sessions() as db:
        db.add(Stream(id=4, name="screen", token=TOKEN))
        await db.commit()
    CapturedWorker.instances = []
    monkeypatch.setattr(source_module, "WorkerProcess", CapturedWorker)
    yield supervisor
    for push in list(supervisor.sources.every(PushSession)):
        push.close_all("test over")
    await engine.dispose()


def rtmp_request() -> PublishRequest:
    return PublishRequest("rtmp", "in", "4", TOKEN, "127.0.0.1:1")


async def test_a_new_kind_of_source_holds_its_stream_against_every_ingest(supervisor):
    screen = ScreenSource(supervisor, 4, True, [])
    supervisor.sources.add(screen)
    with pytest.raises(PublishRejected) as refused:
        await supervisor.authorize(rtmp_request())
    assert refused.value.busy
    with pytest.raises(WhipRefused) as whip_refused:
        await WhipSessions(supervisor).admit(4, TOKEN)
    assert whip_refused.value.status == 409

    supervisor.sources.remove(screen)
    publisher = await supervisor.authorize(rtmp_request())  # free again
    assert supervisor.sources.find(4, PushSession) is publisher.session
    with pytest.raises(WhipRefused):
        await WhipSessions(supervisor).admit(4, TOKEN)  # now the pushed stream holds it


async def test_a_new_kind_of_source_runs_its_workers_and_names_its_source_type(supervisor):
    screen = ScreenSource(supervisor, 4, True, [])
    running = asyncio.create_task(screen.run_worker(screen.new_worker()))
    await asyncio.sleep(0.01)
    (worker,) = CapturedWorker.instances
    assert worker.config.pull_urls == ("screen://0",)
    worker.on_event(Started(renditions=["origin"]))
    assert supervisor.status.values[4]["stream_source_type"] == "screen"
    worker.finish()
    assert await running == 0
    assert screen.worker is None


async def test_a_new_kind_of_source_gets_its_streams_overlays(supervisor):
    """Overlays belong to the stream, not to an ingest: once any source feeds it, its overlays
    are rendered, its worker is told them and gets each new image; they go with the source."""
    async with supervisor.db_sessions() as db:
        stream = await db.get(Stream, 4)
        stream.html_overlay = True
        db.add(Overlay(stream_id=4, url="http://example.com/score", x=10, y=20, width=300, height=100))
        await db.commit()
    supervisor.overlays.renderer = renderer = FakeRenderer()
    screen = ScreenSource(supervisor, 4, True, [], html_overlay=True)
    worker = screen.new_worker()
    supervisor.sources.add(screen)
    await asyncio.sleep(0.05)
    (overlay_id,) = renderer.specs
    placed = SetOverlay(overlay_id=overlay_id, x=10, y=20, width=300, height=100)
    assert worker.commands == [placed, KeepOverlays(overlay_ids=[overlay_id])]
    supervisor.overlays._image(overlay_id, b"png")
    assert worker.commands[-1].png  # the image goes to the stream's worker at once
    following = screen.new_worker()  # a restarted worker: the overlays with their last image first
    assert following.commands == [*supervisor.overlays.commands(4)] and following.commands[0].png
    running = asyncio.create_task(screen.run_worker(following))
    await asyncio.sleep(0.01)
    assert following.config.overlays is True
    following.finish()
    await running
    supervisor.sources.remove(screen)
    assert renderer.specs == {}
