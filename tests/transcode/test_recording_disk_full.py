"""A recording on a full disk: a real worker packages a clip while recording it onto a tiny
tmpfs. The recording stops with one `recording_failed` (no `recording_stopped`: never a video
reported complete), and the live output goes on to the end of the clip."""

from __future__ import annotations

import io
import json
import subprocess

import av
import pytest

from packager.recording_layout import read_recording
from tests.packager.packager_testkit import make_clip
from tests.support.worker_events import worker_run
from tests.transcode.test_disk_full import tiny_disk  # noqa: F401 (a fixture)
from transcode.contract import InputData, StartInput, StartRecording, WorkerConfig

SECONDS = 30  # ~3 MB of origin + audio: a third fits on the tmpfs


def test_a_full_disk_fails_the_recording_and_the_stream_goes_on(tmp_path, tiny_disk):  # noqa: F811
    clip = make_clip(tmp_path / "clip.flv", seconds=SECONDS, b_frames=False)
    (tiny_disk / "filler").write_bytes(b"\0" * (9 * 2**20))  # the 10 MB disk is 9 MB full
    config = WorkerConfig(stream_id=1, out_dir=str(tmp_path / "live"))
    record = StartRecording(key="k", directory=str(tiny_disk / "k"))
    command, stdin = worker_run(config, record, StartInput("flv"), InputData(clip.read_bytes()))
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=120, check=False)
    log = done.stderr.decode()
    assert done.returncode == 0, log[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith(b"{")]
    failed = [e for e in events if e["event"] == "recording_failed"]
    assert len(failed) == 1 and "No space left on device" in failed[0]["message"], failed
    assert [e for e in events if e["event"] == "recording_stopped"] == []
    assert any(e["event"] == "recording_progress" for e in events)  # it recorded until the disk was full
    segments = [e for e in events if e["event"] == "segment" and e["rendition"] == "origin"]
    assert segments[-1]["msn"] >= SECONDS // 2 - 2  # the live output went on to the clip's end
    assert "recording k stopped: recording write failed" in log
    # what was written before the disk filled is whole (copied with sendfile: another filesystem)
    recording = read_recording(tiny_disk / "k")
    video = recording.tracks["video"]
    data = (tiny_disk / "k" / video[0].init).read_bytes() + b"".join(
        (tiny_disk / "k" / s.file).read_bytes()[: s.size]
        for s in video  # a torn tail is not the segment's
    )
    with av.open(io.BytesIO(data)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == pytest.approx(recording.duration * 25, abs=2) and frames >= 25
