"""ReadPacer: a passthrough worker sleeps until the frame that closes the leader's open part
is due, then reads what arrived meanwhile; the events of a batch go out in one write."""

from __future__ import annotations

import os
import threading
from fractions import Fraction

import av

from transcode.events import EventChannel
from transcode.pipe_source import PipeInput, data_record, start_record
from transcode.read_pacer import LAG_WINDOW, MARGIN, ReadPacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def packet(dts_ms: int, size: int = 1) -> av.Packet:
    packet = av.Packet(b"x" * size)
    packet.time_base = Fraction(1, 1000)
    packet.dts = packet.pts = dts_ms
    return packet


def paced(input_batch: float = 0.1) -> tuple[ReadPacer, Clock, list[dict], callable]:
    clock = Clock()
    pacer = ReadPacer(0.5, input_batch, clock)
    sent: list[dict] = []
    return pacer, clock, sent, pacer.watch(sent.append, leader="origin")


def test_no_pause_before_the_first_part():
    pacer, clock, _, emit = paced()
    pacer.on_packet(packet(0))
    assert pacer.pause(0) == 0.0


def test_after_a_leader_part_sleep_until_the_closing_frame_is_due():
    pacer, clock, sent, emit = paced(input_batch=0.1)
    clock.now = 100.0
    pacer.on_packet(packet(10_000))  # media 10 s arrived at wall 100 s: lag 90 s
    clock.now = 100.2
    pacer.on_packet(packet(10_040))  # a later frame, read late: lag 90.16, not the minimum
    emit({"event": "part", "rendition": "origin", "msn": 0, "part": 0})
    assert sent[-1]["rendition"] == "origin"  # events pass through
    # the next part closes at media 10.54 s, due at wall 90 + 10.54, plus the node's batch
    assert abs(pacer.pause(0) - (90 + 10.54 + 0.1 + MARGIN - 100.2)) < 1e-9
    clock.now = 200.0
    assert pacer.pause(0) == 0.0  # past due: the frame is late, read as it comes


def test_a_worker_behind_does_not_sleep():
    """More than a part's worth of bytes already waiting: catch up at full speed."""
    pacer, clock, _, emit = paced()
    for frame in range(31):  # 1 s of 1000-byte frames: 1000 bytes per second
        pacer.on_packet(packet(frame * 1000 // 30, size=1000 // 30))
    emit({"event": "part", "rendition": "origin"})
    assert pacer.pause(100) > 0  # a tenth of a second waiting: sleep
    assert pacer.pause(600) == 0.0  # more than half a second (the part target): read now


def test_only_the_leaders_parts_count():
    pacer, clock, _, emit = paced()
    pacer.on_packet(packet(0))
    emit({"event": "part", "rendition": "audio"})
    emit({"event": "playlist", "rendition": "origin"})
    assert pacer.pause(0) == 0.0


def test_the_lag_forgets_old_windows():
    pacer, clock, _, emit = paced(input_batch=0.0)
    pacer.on_packet(packet(0))  # lag 100
    for step in range(1, 4):  # the stream stalled 5 s: from now on frames are 5 s later
        clock.now = 105.0 + step * LAG_WINDOW
        pacer.on_packet(packet(int((clock.now - 105.0) * 1000)))
    emit({"event": "part", "rendition": "origin"})
    assert abs(pacer.pause(0) - (0.5 + MARGIN)) < 1e-6  # lag now 105: sleep a part, not none


def test_a_source_switch_starts_over():
    pacer, clock, _, emit = paced()
    pacer.on_packet(packet(0))
    emit({"event": "part", "rendition": "origin"})
    pacer.source_changed()
    assert pacer.pause(0) == 0.0


def test_pipe_input_flushes_then_sleeps_before_reading():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, start_record("flv") + data_record(b"abc"))
    os.close(write_fd)
    calls: list[str] = []

    def pause(waiting: int) -> float:
        calls.append("pause")
        return 0.001

    pipe = PipeInput(read_fd, pause=pause, before_read=lambda: calls.append("flush"))
    reader = pipe.next_input()
    assert reader.read(10) == b"abc"
    assert calls[:2] == ["flush", "pause"]


def test_batched_events_wait_for_flush_and_other_threads_do_not():
    read_fd, write_fd = os.pipe()
    channel = EventChannel(write_fd, batched=True)
    channel.send({"event": "part"})
    channel.send({"event": "playlist"})
    os.set_blocking(read_fd, False)
    assert _read(read_fd) == b""
    channel.flush()
    assert _read(read_fd) == b'{"event":"part"}\n{"event":"playlist"}\n'
    thread = threading.Thread(target=channel.send, args=({"event": "stats"},))
    thread.start()
    thread.join()
    assert _read(read_fd) == b'{"event":"stats"}\n'
    unbatched = EventChannel(write_fd)
    unbatched.send({"event": "ended"})
    assert _read(read_fd) == b'{"event":"ended"}\n'


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def test_a_backlog_is_worked_off_at_full_speed(tmp_path, monkeypatch):
    """Input already waiting (a stall, a burst at connect) is not throttled to real time:
    8 s of media handed over at once are packaged without sleeping, but for the last part
    (throttled to real time, the sleeps would add up to the media's 8 s)."""
    import subprocess

    from transcode.worker import WorkerConfig, run

    clip = tmp_path / "clip.flv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                    "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "8", "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "30", "-c:a", "aac", str(clip)], check=True)
    read_fd, write_fd = os.pipe()
    data = start_record("flv") + data_record(clip.read_bytes())

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)

    threading.Thread(target=feed, daemon=True).start()
    events: list[dict] = []
    slept: list[float] = []
    monkeypatch.setattr("transcode.pipe_source.time.sleep", slept.append)
    run(WorkerConfig(stream_id=1, out_dir=str(tmp_path / "out")), events.append, source_fd=read_fd)
    assert sum(slept) < 1.0, slept
    assert sum(e["event"] == "part" and e["rendition"] == "origin" for e in events) >= 14
