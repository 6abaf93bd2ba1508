"""A pushed stream's worker writes the events of one batch of input in one go: they wait in
EventChannel's buffer until the worker's input pipe runs dry (before_wait flushes them)."""

from __future__ import annotations

import os
import threading

from tests.support.worker_events import worker_run
from transcode.contract import Ended, InputData, Removed, StartInput, Stats, decode_event, encode_command
from transcode.events import FLUSH_BYTES, EventChannel
from transcode.pipe_input import PipeInput


def test_pipe_input_flushes_only_when_the_pipe_runs_dry():
    read_fd, write_fd = os.pipe()
    os.write(
        write_fd,
        encode_command(StartInput("flv")) + encode_command(InputData(b"abc")) + encode_command(InputData(b"def")),
    )
    calls: list[str] = []

    def before_wait() -> None:  # the node's next batch arrives, then the node goes away
        calls.append("flush")
        if len(calls) == 1:
            os.write(write_fd, encode_command(InputData(b"ghi")))
        else:
            os.close(write_fd)

    pipe = PipeInput(read_fd, before_wait=before_wait)
    reader = pipe.next_input()
    assert reader.read(10) == b"abc" and reader.read(10) == b"def"
    assert calls == []  # one read brought both records: nothing was waited for
    assert reader.read(10) == b"ghi" and calls == ["flush"]
    assert reader.read(10) == b"" and calls == ["flush", "flush"]  # EOF came after a wait too


def test_batched_events_wait_for_flush_and_other_threads_do_not():
    read_fd, write_fd = os.pipe()
    channel = EventChannel(write_fd, batched=True)
    channel.send(Removed(paths=["a"]))
    channel.send({"event": "removed", "paths": ["b"]})  # the packager's plain form
    os.set_blocking(read_fd, False)
    assert _read(read_fd) == b""
    channel.flush()
    assert _read(read_fd) == b'{"v":2,"event":"removed","paths":["a"]}\n{"v":2,"event":"removed","paths":["b"]}\n'
    thread = threading.Thread(target=channel.send, args=(Stats(speed=1.0),))
    thread.start()
    thread.join()
    assert decode_event(_read(read_fd)) == Stats(speed=1.0)
    unbatched = EventChannel(write_fd)
    unbatched.send(Ended())
    assert _read(read_fd) == b'{"v":2,"event":"ended"}\n'


def test_a_worker_run_flushes_its_events(tmp_path):
    """Every event reaches the node: the last batch's events are flushed at the end."""
    import subprocess

    clip = tmp_path / "clip.flv"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            str(clip),
        ],
        check=True,
    )
    command, stdin = worker_run(
        {"stream_id": 1, "out_dir": str(tmp_path / "out")}, StartInput("flv"), InputData(clip.read_bytes())
    )
    done = subprocess.run(command, capture_output=True, input=stdin, check=True)
    events = done.stdout.decode().splitlines()
    assert events[0].startswith('{"v":2,"event":"started"')
    assert any(line.startswith('{"v":2,"event":"ended"') for line in events)
    assert any('"event":"ts_playlist"' in line and "EXT-X-ENDLIST" in line for line in events)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def test_a_worker_has_deleted_what_its_window_let_go_when_it_exits(tmp_path):
    """Expired files are deleted, and playlist copies written, on the worker's file thread;
    the worker waits for it."""
    import json
    import subprocess

    clip = tmp_path / "clip.flv"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "8",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-c:a",
            "aac",
            str(clip),
        ],
        check=True,
    )
    out = tmp_path / "out"
    command, stdin = worker_run(
        {"stream_id": 1, "out_dir": str(out), "segment_target": 1.0, "window_segments": 1},
        StartInput("flv"),
        InputData(clip.read_bytes()),
    )
    done = subprocess.run(command, capture_output=True, input=stdin, check=True)
    events = [json.loads(line) for line in done.stdout.decode().splitlines()]
    removed = [path for event in events if event["event"] == "removed" for path in event["paths"]]
    segments = [path for path in removed if path.endswith(".ts") or path.count(".") == 1]
    assert "origin/seg_0.m4s" in segments and "audio/seg_0.m4s" in segments
    assert any(path.endswith(".ts") for path in segments)
    assert [path for path in segments if (out / path).exists()] == []
    assert (out / "origin" / "init.mp4").exists()  # what is still listed stays
    assert (out / "origin" / "index.m3u8").read_text().endswith("#EXT-X-ENDLIST\n")  # the last write


def test_a_batch_past_a_mebibyte_is_written_without_waiting_for_the_flush(tmp_path):
    """A worker catching up on a backlog may not find its pipe empty for minutes: its events
    (a 4-hour window's TS playlist is ~300 KB each) went out only then, and the buffer had
    grown by hundreds of MiB, kept by the heap after."""
    with open(tmp_path / "events", "wb") as out:
        channel = EventChannel(out.fileno(), batched=True)
        text = "#EXTINF:2.0,\n" * 20_000  # 260 KB
        for _ in range(3):
            channel.send({"event": "ts_playlist", "rendition": "origin", "path": "origin/mpegts.m3u8", "text": text})
        assert os.fstat(out.fileno()).st_size == 0  # under FLUSH_BYTES: batched
        for _ in range(2):
            channel.send({"event": "ts_playlist", "rendition": "origin", "path": "origin/mpegts.m3u8", "text": text})
        assert os.fstat(out.fileno()).st_size > FLUSH_BYTES  # written as it passed the bound
        assert sum(map(len, channel.buffer)) <= FLUSH_BYTES
