"""The worker's stdin records: inputs end at the next start record, unread bytes are skipped,
and a worker fed two publishers' inputs packages both with a discontinuity between."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support.hls import parse_media_playlist
from tests.support.worker_events import worker_run
from transcode.contract import InputData, StartInput, encode_command
from transcode.pipe_input import PipeInput


def pipe_with(data: bytes) -> PipeInput:
    read_fd, write_fd = os.pipe()

    def write() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)

    threading.Thread(target=write, daemon=True).start()
    return PipeInput(read_fd)


def read_all(reader) -> bytes:
    out = b""
    while chunk := reader.read(5):
        out += chunk
    return out


def test_inputs_are_split_at_start_records():
    pipe = pipe_with(
        encode_command(StartInput("flv"))
        + encode_command(InputData(b"abc"))
        + encode_command(InputData(b"defgh"))
        + encode_command(StartInput("mpegts"))
        + encode_command(InputData(b"xyz"))
    )
    first = pipe.next_input()
    assert first.format == "flv" and read_all(first) == b"abcdefgh"
    second = pipe.next_input()
    assert second.format == "mpegts"
    assert first.read(10) == b""  # an old input never reads into the next one
    assert read_all(second) == b"xyz"
    assert pipe.next_input() is None


def test_unread_bytes_of_an_input_are_skipped():
    pipe = pipe_with(
        encode_command(StartInput("flv"))
        + encode_command(InputData(b"a" * 100))
        + encode_command(InputData(b"b" * 10))
        + encode_command(StartInput("flv"))
        + encode_command(InputData(b"next"))
    )
    first = pipe.next_input()
    assert first.read(3) == b"aaa"
    assert read_all(pipe.next_input()) == b"next"


def test_bad_records_are_an_error():
    with pytest.raises(ValueError, match="mp4"):
        encode_command(StartInput("mp4"))
    pipe = pipe_with(b"X\x00\x00\x00\x01z")
    with pytest.raises(ValueError, match="corrupt"):
        pipe.next_input()


def ffmpeg(size: str, container: str, seconds: int = 3) -> bytes:
    return subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-f",
            container,
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout


def test_worker_packages_two_inputs_with_a_discontinuity(tmp_path: Path):
    commands = []
    for size, container in (("160x120", "mpegts"), ("176x144", "flv")):
        data = ffmpeg(size, container)
        commands += [StartInput(container), *(InputData(data[i : i + 1316]) for i in range(0, len(data), 1316))]
    command, stdin = worker_run({"stream_id": 1, "out_dir": str(tmp_path)}, *commands)
    result = subprocess.run(command, input=stdin, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("started") == 1 and kinds.count("source_changed") == 1
    changed = next(e for e in events if e["event"] == "source_changed")
    assert (changed["width"], changed["height"]) == (176, 144)
    playlist = parse_media_playlist((tmp_path / "origin" / "index.m3u8").read_text())
    msns = [s.msn for s in playlist.segments]
    assert msns == sorted(set(msns)) and sum(s.discontinuity for s in playlist.segments) == 1
    ts_playlist = (tmp_path / "origin" / "mpegts.m3u8").read_text()
    assert ts_playlist.count("#EXT-X-DISCONTINUITY\n") == 1
