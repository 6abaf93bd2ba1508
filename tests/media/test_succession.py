"""A stream's workers one after another (server/media/succession.py): each starts once the one
before has exited, continues its numbering whichever session ran it, and takes its delivery
state over without deleting anything the new worker writes. Stand-in workers here (only
`kill` is called on them); tests/e2e/test_reconnect.py runs real ones."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from server.media import succession as succession_module
from server.media.succession import Succession
from tests.support.worker_events import worker_event

GRACE = 0.2  # ENDED_GRACE for these tests


class StandIn:
    """What a Succession sees of a worker: its owner's turn, and `kill`."""

    def __init__(self) -> None:
        self.killed = asyncio.Event()

    def kill(self) -> None:
        self.killed.set()


@pytest.fixture(autouse=True)
def short_grace(monkeypatch):
    monkeypatch.setattr(succession_module, "ENDED_GRACE", GRACE)


@pytest.fixture
def succession(tmp_path) -> Succession:
    return Succession(7, tmp_path / "live" / "7")


def write_part(succession: Succession, msn: int, data: bytes = b"part") -> str:
    """As a worker does: the bytes in the segment's file, then the events announcing them."""
    file = f"origin/seg_{msn}.m4s"
    (succession.directory / "origin").mkdir(parents=True, exist_ok=True)
    (succession.directory / file).write_bytes(data)
    succession.observe(
        worker_event(
            {
                "event": "part",
                "rendition": "origin",
                "msn": msn,
                "part": 0,
                "path": f"origin/seg_{msn}.0.m4s",
                "file": file,
                "offset": 0,
                "size": len(data),
                "discontinuity_sequence": 0,
            }
        )
    )
    succession.observe(
        worker_event(
            {
                "event": "playlist",
                "rendition": "origin",
                "path": "origin/index.m3u8",
                "msn": msn,
                "part": 0,
                "header": f"#EXTM3U\n# msn={msn}\n",
            }
        )
    )
    return f"origin/seg_{msn}.0.m4s"


async def test_a_worker_starts_only_once_the_one_before_has_left_its_turn(succession):
    order = []
    old_left = asyncio.Event()

    async def old(worker):
        async with succession.turn(worker):
            order.append("old starts")
            await old_left.wait()
            order.append("old exits")
            succession.end(worker)

    async def new(worker):
        async with succession.turn(worker):
            order.append("new starts")

    first = asyncio.create_task(old(StandIn()))
    await asyncio.sleep(0)
    second = asyncio.create_task(new(StandIn()))
    await asyncio.sleep(0.05)
    assert order == ["old starts"]
    old_left.set()
    await asyncio.gather(first, second)
    assert order == ["old starts", "old exits", "new starts"]


async def test_a_predecessor_that_does_not_exit_is_killed(succession, monkeypatch):
    monkeypatch.setattr(succession_module, "FINISH_TIMEOUT", 0.05)
    stuck = StandIn()

    async def old():
        async with succession.turn(stuck):
            await stuck.killed.wait()  # as a worker's exit follows its kill

    first = asyncio.create_task(old())
    await asyncio.sleep(0)
    async with succession.turn(StandIn()):
        assert stuck.killed.is_set()
    await first


async def test_numbering_goes_on_across_workers_whoever_runs_them(succession):
    first = StandIn()
    async with succession.turn(first):
        assert succession.resume.point() is None
        write_part(succession, 4)
        succession.end(first)
    await asyncio.sleep(GRACE * 2)  # forgotten: nothing served, the directory gone
    assert succession.live is None and not succession.directory.exists()
    async with succession.turn(StandIn()) as live:
        assert succession.resume.point().msn == 5 and succession.resume.point().init_generation == 0
        assert live.texts == {} and live.playlists == {} and succession.directory.is_dir()


async def test_the_point_is_stored_as_outputs_start_and_end_and_every_save_interval(tmp_path):
    saved, clock = [], [0.0]
    succession = Succession(7, tmp_path / "7", save=saved.append, clock=lambda: clock[0])
    succession.observe(worker_event({"event": "init", "rendition": "origin", "generation": 0}))
    assert [p["init_generation"] for p in saved] == [1]
    for msn in range(4):  # 2 s segments: within SAVE_EVERY of the last save
        clock[0] += 2.0
        succession.observe(worker_event({"event": "part", "msn": msn, "discontinuity_sequence": 0}))
        succession.observe(worker_event({"event": "segment", "rendition": "origin", "msn": msn}))
    assert len(saved) == 1
    succession.observe(worker_event({"event": "mpd", "availability_start": 1e9, "stream_start": 1.0, "media_end": 9.0}))
    assert len(saved) == 2 and saved[1]["timeline"]["availability_start"] == 1e9
    succession.observe(
        worker_event({"event": "mpd", "availability_start": 1e9, "stream_start": 1.0, "media_end": 11.0})
    )
    clock[0] += succession_module.SAVE_EVERY
    succession.observe(worker_event({"event": "segment", "rendition": "origin", "msn": 4}))
    succession.observe(worker_event({"event": "ended"}))
    assert [p["msn"] for p in saved] == [0, 5, 6, 6]


def test_the_restore_margin_covers_the_segments_of_a_save_interval():
    assert succession_module.restore_margin(2.0) * 2.0 > succession_module.SAVE_EVERY
    assert succession_module.restore_margin(1.0) > succession_module.SAVE_EVERY


async def test_a_worker_after_an_ended_one_writes_beside_its_files_and_retires_them(succession):
    first, second = StandIn(), StandIn()
    async with succession.turn(first) as live:
        old = write_part(succession, 0, b"old")
        succession.end(first)
    assert live.ended_at is not None and b"msn=0" in live.text("origin/index.m3u8")[0]
    async with succession.turn(second) as taken:
        assert taken is live and live.ended_at is None
        assert live.text("origin/index.m3u8") is None  # the final playlist is not served on
        assert live.read_media(old) == b"old"  # its media are, for a while
        new = write_part(succession, 2, b"new")
        await asyncio.sleep(GRACE * 2)
        # the first worker's end did not take the new one's files with it
        assert succession.live is live and live.read_media(new) == b"new"
        assert live.read_media(old) is None and not (live.directory / "origin/seg_0.m4s").exists()
        assert (live.directory / "origin/seg_2.m4s").exists()
        succession.end(second)


async def test_a_crashed_workers_state_goes_to_its_successor_not_ended(succession):
    crashed, successor = StandIn(), StandIn()
    async with succession.turn(crashed) as live:
        write_part(succession, 0)
    async with succession.turn(successor) as taken:
        assert taken is live and live.text("origin/index.m3u8") is not None  # served until replaced
        succession.end(crashed)  # e.g. the crashed one's session ends: its state is not its own now
        assert live.ended_at is None
        succession.end(successor)
        assert live.ended_at is not None


async def test_after_a_crash_the_old_window_goes_on_and_only_the_rest_is_retired(succession):
    crashed, successor = StandIn(), StandIn()
    async with succession.turn(crashed):
        write_part(succession, 0, b"seg 0")
        succession.observe(
            worker_event({"event": "segment", "rendition": "origin", "msn": 0, "path": "origin/seg_0.m4s"})
        )
        old_part = write_part(succession, 1, b"seg 1")  # in progress when it crashed
    assert succession.resume.point(carry=True).carried["origin"][0]["msn"] == 0
    async with succession.turn(successor) as live:
        assert succession.carries  # the crashed worker's state was not ended
        succession.observe(worker_event({"event": "carried", "paths": ["origin/seg_0.m4s", "origin/seg_1.m4s"]}))
        await asyncio.sleep(GRACE * 2)
        assert live.read_media("origin/seg_0.m4s") == b"seg 0"  # listed on: served and kept
        assert (live.directory / "origin/seg_1.m4s").exists()  # its parts' file, carried as a gap
        assert live.read_media(old_part) is None  # the old parts are retired
        succession.end(successor)
    async with succession.turn(StandIn()):  # after an ended worker: nothing is carried
        assert not succession.carries and succession.resume.point(carry=True).carried == {}


async def test_a_worker_coming_while_the_directory_is_removed_waits_for_it(succession, monkeypatch):
    """The removal runs on a thread, not the loop (slowed down here, as unlinks waiting for
    their TRIM are); the next worker waits for it, so its files are not removed with it."""
    real_rmtree = succession_module.shutil.rmtree
    threads = []

    def slow_rmtree(path, ignore_errors=False):
        threads.append(threading.current_thread())
        time.sleep(0.3)
        real_rmtree(path, ignore_errors)

    monkeypatch.setattr(succession_module.shutil, "rmtree", slow_rmtree)
    first = StandIn()
    async with succession.turn(first):
        write_part(succession, 0)
        succession.end(first)
    await asyncio.sleep(GRACE + 0.05)  # forgotten; the removal is under way
    assert succession.live is None
    async with succession.turn(StandIn()):
        new = write_part(succession, 1, b"new")
        await asyncio.sleep(0.4)
        assert succession.live.read_media(new) == b"new"
        assert not (succession.directory / "origin/seg_0.m4s").exists()
    assert threads and threading.main_thread() not in threads  # not on the event loop


class Commanded(StandIn):
    """A stand-in that records the commands its succession sends it."""

    def __init__(self) -> None:
        super().__init__()
        self.commands = []

    def send(self, *commands) -> bool:
        self.commands.extend(commands)
        return True


async def test_a_dvr_window_outlives_its_broadcast_until_dvr_is_switched_off(succession):
    from transcode.contract import ClearDvr, SetDvrWindow

    succession.set_dvr(60.0)
    worker = Commanded()
    async with succession.turn(worker):
        write_part(succession, 0)
        succession.set_dvr(30.0)  # while live: the worker follows at once
        assert succession.clear_dvr()
        succession.end(worker)
    assert worker.commands == [SetDvrWindow(30.0), ClearDvr()]
    await asyncio.sleep(GRACE * 3)
    assert succession.live is not None and succession.live.playlists  # still served past the grace
    assert (succession.directory / "origin" / "seg_0.m4s").exists()
    assert not succession.clear_dvr()  # ended: nothing to clear
    succession.set_dvr(None)  # DVR off: the kept window goes
    assert succession.live is None
    await succession._removed()
    assert not succession.directory.exists()


async def test_a_window_without_dvr_goes_after_the_grace(succession):
    worker = Commanded()
    async with succession.turn(worker):
        write_part(succession, 0)
        succession.end(worker)
    await asyncio.sleep(GRACE * 3)
    assert succession.live is None and worker.commands == []
