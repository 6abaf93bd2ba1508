"""A full disk under a DVR window (issue 19): a real worker packages a clip into a tiny tmpfs.
The window shrinks with one warning, and every segment up to the end of the clip is still
written and announced (the live edge never stalls). Without the shrink the worker failed on
ENOSPC at about a third of the clip."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.packager.packager_testkit import make_clip
from tests.support.playlist_texts import with_texts
from tests.support.worker_events import worker_run
from transcode.contract import InputData, StartInput, WorkerConfig

SECONDS = 60
TMPFS_SIZE = "10m"  # CMAF + TS of the 60 s clip (850 kbit/s) take ~13 MB; the live window + its grace ~7 MB


@pytest.fixture
def tiny_disk(request, tmp_path):
    """A tmpfs of TMPFS_SIZE (or the size the test is parametrized with, `indirect`)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    size = getattr(request, "param", TMPFS_SIZE)
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"cannot mount a tmpfs here: {error}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_shrinks_the_dvr_window_and_the_live_edge_goes_on(tmp_path, tiny_disk):
    clip = make_clip(tmp_path / "clip.flv", seconds=SECONDS, b_frames=False)
    config = WorkerConfig(stream_id=1, out_dir=str(tiny_disk / "1"), dvr_seconds=3600)
    command, stdin = worker_run(config, StartInput("flv"), InputData(clip.read_bytes()))
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=120, check=False)
    log = done.stderr.decode()
    assert done.returncode == 0, log[-2000:]
    assert "disk full" in log and "DVR window shrinks" in log, log[-2000:]
    assert log.count("disk full") <= 3, log  # a line per shrink, not one per write
    events = with_texts([json.loads(line) for line in done.stdout.splitlines() if line.startswith(b"{")])
    segments = [e for e in events if e["event"] == "segment" and e["rendition"] == "origin"]
    assert segments[-1]["msn"] >= SECONDS // 2 - 2  # every segment of the clip, to its end
    assert [s["msn"] for s in segments] == list(range(len(segments)))
    final = [e for e in events if e["event"] == "playlist" and e["rendition"] == "origin"][-1]["text"]
    assert "#EXT-X-ENDLIST" in final
    listed = sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+)", final))
    assert 16 <= listed < SECONDS / 2  # the window gave way, not below the live window
    ts = [e for e in events if e["event"] == "ts_segment" and e["rendition"] == "origin"]
    assert ts[-1]["sequence"] >= SECONDS // 2 - 2


@pytest.mark.parametrize("tiny_disk", ["1m"], indirect=True)
def test_a_disk_too_small_for_the_live_window_stops_the_worker_with_one_clear_error(tmp_path, tiny_disk):
    """No DVR window to give way: the worker stops with one line naming the cause (it used to
    end on two chained tracebacks and "[Errno 28] No space left on device")."""
    clip = make_clip(tmp_path / "clip.flv", seconds=20, b_frames=False)
    config = WorkerConfig(stream_id=1, out_dir=str(tiny_disk / "1"))
    command, stdin = worker_run(config, StartInput("flv"), InputData(clip.read_bytes()))
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=120, check=False)
    log = done.stderr.decode()
    assert done.returncode == 1, log[-2000:]
    assert "Traceback" not in log and log.count("disk full under") == 1, log[-2000:]
    errors = [json.loads(line) for line in done.stdout.splitlines() if line.startswith(b'{"v":2,"event":"error"')]
    assert [e["message"] for e in errors] == [
        f"disk full under {tiny_disk / '1'} and nothing left to free: the stream stops"
    ]
