"""The node's recording lifecycle on a real database: the worker's recording events as a worker
sends them, a stand-in for the worker process (what the node sends it is all that is asked of
it), and a recording on disk made by the recorder from a real packager run."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from packager.recorder import Recorder
from server.db.engine import create_engine_for, db_session_factory
from server.db.migrate import upgrade
from server.db.models import Stream, Video
from server.media.recordings import Recordings
from server.settings import Settings
from tests.packager.packager_testkit import make_clip, package
from transcode.contract import RecordingFailed, RecordingProgress, RecordingStopped, StartRecording, StopRecording


class Worker:
    """Takes what the node sends a worker."""

    def __init__(self) -> None:
        self.sent: list = []

    def send(self, *commands) -> bool:
        self.sent += commands
        return True


class Status:
    def __init__(self) -> None:
        self.values: dict[int, dict] = {}

    def set(self, stream_id: int, **values) -> None:
        self.values.setdefault(stream_id, {}).update(values)


@pytest.fixture
async def node(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine_for(url)
    sessions = db_session_factory(engine)
    async with sessions() as db:
        db.add(Stream(id=1, name="show", token="t", auto_record=True))
        await db.commit()
    settings = Settings(data_dir=tmp_path, recording_grace=0.2)
    recordings = Recordings(settings, sessions, Status())
    await recordings.start()
    yield recordings, sessions
    await recordings.close()
    await engine.dispose()


@pytest.fixture(scope="module")
def clip_1s_gop(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("media") / "gop1.flv", gop=25)


async def video_of(sessions, key: str) -> Video:
    async with sessions() as db:
        return (await db.scalars(select(Video).where(Video.recording_key == key))).one()


async def settle(recordings: Recordings) -> None:
    """Every finalization and row the node started has ended."""
    while pending := [*recordings.tasks, *recordings.rows.values()]:
        await asyncio.gather(*pending, return_exceptions=True)
        if all(task.done() for task in pending) and not recordings.tasks:
            return


def record_clip(clip, directory, key_dir) -> None:
    """The recorder's files of a packaged clip, as a worker writes them."""
    run = package(clip, directory, window_segments=100)
    recorder = Recorder(run.out_dir, run=lambda job: job(), emit=lambda event: None)
    recorder.start("k", key_dir)
    for event in run.events:
        recorder.observe(event)


async def test_a_write_error_makes_the_video_an_error_and_recording_stops(node):
    recordings, sessions = node
    worker = Worker()
    (start,) = recordings.commands(1, worker)
    assert isinstance(start, StartRecording) and start.record_type == "origin" and not start.continues
    recordings.progress(1, RecordingProgress(key=start.key, duration=2.0))
    await settle(recordings)
    assert recordings.status.values[1]["recording_duration"] == 2.0
    recordings.failed(1, RecordingFailed(key=start.key, message="recording write failed: No space left on device"))
    await settle(recordings)
    video = await video_of(sessions, start.key)
    assert (video.status, video.error) == ("error", "recording write failed: No space left on device")
    assert recordings.status.values[1]["recording_duration"] is None
    assert await recordings.stop_recording(1) is None  # nothing records any more
    recordings.worker_exited(1, worker)  # the stream goes on; nothing to finalize
    await settle(recordings)
    assert (await video_of(sessions, start.key)).status == "error"


async def test_a_new_worker_within_the_grace_continues_after_it_the_video_is_finalized(node, clip_1s_gop, tmp_path):
    recordings, sessions = node
    first = Worker()
    (start,) = recordings.commands(1, first)
    record_clip(clip_1s_gop, tmp_path / "live", recordings.storage.local_directory(start.key))
    recordings.progress(1, RecordingProgress(key=start.key, duration=6.0))
    recordings.worker_exited(1, first)
    second = Worker()
    (again,) = recordings.commands(1, second)
    assert (again.key, again.continues, again.recorded) == (start.key, True, 6.0)
    stopping = await recordings.stop_recording(1)
    assert stopping.status == "pending" and stopping.recording_key == start.key
    assert second.sent == [StopRecording(key=start.key)]
    recordings.stopped(1, RecordingStopped(key=start.key, duration=6.0))
    await settle(recordings)
    video = await video_of(sessions, start.key)
    assert video.status == "ready" and video.stream_id == 1 and video.record_type == "origin"
    assert video.duration == pytest.approx(6000, abs=100)
    assert (video.width, video.height) == (320, 240) and video.origin_size > 0
    assert video.name.startswith("show ")


async def test_no_worker_within_the_grace_finalizes(node):
    recordings, sessions = node
    worker = Worker()
    (start,) = recordings.commands(1, worker)
    recordings.progress(1, RecordingProgress(key=start.key, duration=2.0))
    recordings.worker_exited(1, worker)
    await asyncio.sleep(0.3)  # the grace (0.2 s) is over
    await settle(recordings)
    video = await video_of(sessions, start.key)
    assert (video.status, video.error) == ("error", "nothing was recorded")  # no files: never ready
    assert recordings.commands(1, Worker())[0].key != start.key  # auto_record: a new recording
