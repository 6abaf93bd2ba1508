"""Shedding the top rendition, for real, inside a worker run on a clock that falls behind.

The media path is the worker's own (a real clip, real decoding, encoding and packaging); only
the wall clock the transcoder reads is simulated: fast for the first seconds, then every read
takes a quarter second — the transcoder sees itself fall behind while blocked on its encoders.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.worker_events import plain
from transcode.contract import InputData, StartInput, WorkerConfig, encode_command
from transcode.ladder import Rendition
from transcode.worker import run

FAST_CALLS = 600  # clock reads before the machine "slows down" (~3 s of media in)


class SlowingClock:
    def __init__(self) -> None:
        self.calls = 0
        self.now = 0.0

    def __call__(self) -> float:
        self.calls += 1
        self.now += 0.001 if self.calls < FAST_CALLS else 0.25
        return self.now


@pytest.fixture(scope="module")
def degraded_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("degrade")
    clip = directory / "clip.flv"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-t",
            "8",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(clip),
        ],
        check=True,
    )
    out = directory / "out"
    config = WorkerConfig(
        stream_id=1,
        out_dir=str(out),
        x264_preset="ultrafast",
        degrade_after=2.0,
        renditions=[Rendition("240p", 426, 240, 250), Rendition("160p", 284, 160, 120)],
    )
    events: list[dict] = []
    records = directory / "clip.records"  # what the node writes into a worker's stdin
    records.write_bytes(encode_command(StartInput("flv")) + encode_command(InputData(clip.read_bytes())))
    fd = os.open(records, os.O_RDONLY)
    try:
        run(config, lambda event: events.append(plain(event)), source_fd=fd, clock=SlowingClock())
    finally:
        os.close(fd)
    return out, events


def test_the_top_rendition_is_shed_once_and_the_last_one_kept(degraded_run):
    _, events = degraded_run
    degraded = [e for e in events if e["event"] == "degraded"]
    assert [e["dropped"] for e in degraded] == ["240p"]
    assert degraded[0]["renditions"] == ["origin", "160p"]
    assert "behind real time" in degraded[0]["reason"]


def test_the_shed_rendition_was_playing_then_leaves_the_masters_and_the_mpd(degraded_run):
    out, events = degraded_run
    shed_at = next(i for i, e in enumerate(events) if e["event"] == "degraded")
    assert any(e["event"] == "segment" and e["rendition"] == "240p" for e in events[:shed_at])
    assert any(e["event"] == "master" and "240p/" in e["text"] for e in events[:shed_at])
    variants, _ = parse_master_playlist((out / "master.m3u8").read_text())
    assert [v.uri for v in variants] == ["origin/index.m3u8", "160p/index.m3u8"]
    ts_variants, _ = parse_master_playlist((out / "master_mpegts.m3u8").read_text())
    assert [v.uri for v in ts_variants] == ["origin/mpegts.m3u8", "160p/mpegts.m3u8"]
    mpd = (out / "index.mpd").read_text()
    assert 'id="160p"' in mpd and 'id="240p"' not in mpd


def test_the_shed_rendition_playlists_end_and_the_others_go_on(degraded_run):
    out, _ = degraded_run
    shed = parse_media_playlist((out / "240p/index.m3u8").read_text())
    kept = parse_media_playlist((out / "160p/index.m3u8").read_text())
    assert shed.ended and parse_media_playlist((out / "240p/mpegts.m3u8").read_text()).ended
    assert kept.ended and len(kept.segments) > len(shed.segments)
