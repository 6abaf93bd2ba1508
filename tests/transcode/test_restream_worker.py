"""Restreams in a real worker (`StartRestream` on its stdin, clips as its inputs): the origin
reaches ffmpeg RTMP receivers, with silent AAC in place of the audio for
`no_audio_mode=silence`; a switch to another input (main → backup, another picture size)
goes on over the same connection with the new parameters; a target that accepts the
connection but never answers holds up neither the stream nor the other targets."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

from tests.e2e.test_restreams import probe, rtmp_receiver
from tests.packager.packager_testkit import make_clip
from tests.support.ports import free_port
from tests.support.worker_events import worker_run
from transcode.contract import InputData, StartInput, StartRestream, WorkerConfig, encode_command
from transcode.restream.silence import silent_frame

SECONDS = 4  # each input's
TICK = 0.25  # seconds of media per write, as the node batches a publisher's reads


def feed_in_real_time(worker: subprocess.Popen, head: bytes, clips: list[bytes]) -> None:
    """The config and commands, then each clip as a new input (as at a main ↔ backup switch),
    its `InputData` records about as fast as it plays (targets connect while the stream runs,
    as on a live stream), then EOF."""
    assert worker.stdin is not None
    worker.stdin.write(head)
    for clip in clips:
        worker.stdin.write(encode_command(StartInput("flv")))
        chunk = len(clip) * TICK / SECONDS
        for number in range(int(SECONDS / TICK) + 1):
            worker.stdin.write(encode_command(InputData(clip[int(number * chunk) : int((number + 1) * chunk)])))
            worker.stdin.flush()
            time.sleep(TICK)
    worker.stdin.close()


def frame_widths(path) -> set[int]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=width", "-of", "csv=p=0", path],
        capture_output=True,
        text=True,
        check=True,
    )
    return {int(line.strip(",")) for line in done.stdout.split()}


def test_silence_a_source_switch_and_a_stalled_target(tmp_path):
    main = make_clip(tmp_path / "main.flv", seconds=SECONDS, b_frames=False)
    backup = make_clip(tmp_path / "backup.flv", seconds=SECONDS, sizes=("160x120",), b_frames=False)
    plain_port, silent_port = free_port(), free_port()
    plain = rtmp_receiver(plain_port, tmp_path / "plain.flv")
    silent = rtmp_receiver(silent_port, tmp_path / "silent.flv")
    stalled = socket.create_server(("127.0.0.1", 0))  # accepts, then never reads nor answers
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(stalled.accept()[0]), daemon=True).start()
    key = "secret-key-worker"
    commands = [
        StartRestream(restream_id=1, session=1, uri=f"rtmp://127.0.0.1:{plain_port}/live/{key}"),
        StartRestream(
            restream_id=2,
            session=1,
            uri=f"rtmp://127.0.0.1:{silent_port}/live/{key}",
            no_audio=True,
            no_audio_mode="silence",
        ),
        StartRestream(restream_id=3, session=1, uri=f"rtmp://127.0.0.1:{stalled.getsockname()[1]}/live/{key}"),
    ]
    config = WorkerConfig(stream_id=1, out_dir=str(tmp_path / "live"))
    command, stdin = worker_run(config, *commands)
    with open(tmp_path / "worker.log", "wb") as stderr:
        worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
    feeder = threading.Thread(
        target=feed_in_real_time, args=(worker, stdin, [main.read_bytes(), backup.read_bytes()]), daemon=True
    )
    feeder.start()
    try:
        assert worker.stdout is not None
        out = worker.stdout.read()
        worker.wait(timeout=60)
        for receiver in (plain, silent):
            receiver.wait(timeout=30)
    finally:
        for process in (plain, silent, worker):
            process.kill()
        stalled.close()
    log = (tmp_path / "worker.log").read_text()
    assert worker.returncode == 0, log[-2000:]
    events = [json.loads(line) for line in out.splitlines() if line.startswith(b"{")]
    live = {e["restream_id"] for e in events if e["event"] == "restream_live"}
    assert live == {1, 2}  # the stalled target never got as far as a publish
    segments = [e for e in events if e["event"] == "segment" and e["rendition"] == "origin"]
    assert sum(s["duration"] for s in segments) > 2 * SECONDS - 1.5  # the stream was packaged to its end

    for name in ("plain", "silent"):
        info = probe(tmp_path / f"{name}.flv")
        assert {s["codec_type"]: s["codec_name"] for s in info["streams"]} == {"video": "h264", "audio": "aac"}
        assert float(info["format"]["duration"]) > 2 * SECONDS - 1.5, (name, info)
        # `-listen 1` takes one connection: both inputs came over it, each with its own parameters
        assert frame_widths(tmp_path / f"{name}.flv") == {320, 160}
    silent_audio = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", tmp_path / "silent.flv", "-map", "0:a", "-f", "data", "-c", "copy", "-"],
        capture_output=True,
        check=True,
    ).stdout
    assert silent_audio and silent_audio == silent_frame() * (len(silent_audio) // len(silent_frame()))
    assert key not in log
