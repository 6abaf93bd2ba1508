"""The recording's on-disk layout: index lines, and segments recovered after a crash."""

import shutil

import pytest

from packager.recording_layout import IndexWriter, RecordedSegment, read_recording
from tests.packager.packager_testkit import package


@pytest.fixture(scope="module")
def live_run(clip_1s_gop, tmp_path_factory):
    return package(clip_1s_gop, tmp_path_factory.mktemp("live"), window_segments=100)


def _recorded(run, directory, *, complete_last=True):
    """Copy the run's origin video segments into a recording, indexed as the recorder would."""
    segments = run.of("segment", "origin")
    init = segments[0]["init"]
    (directory / "video").mkdir(parents=True)
    shutil.copy(run.out_dir / init, directory / "video/init_0.mp4")
    index = IndexWriter(directory)
    for number, event in enumerate(segments):
        file = f"video/{number}.m4s"
        shutil.copy(run.out_dir / event["path"], directory / file)
        opened = RecordedSegment("video", file, "video/init_0.mp4", wall_clock=event["wall_clock"])
        index.append(opened)
        if complete_last or number < len(segments) - 1:
            index.append(
                RecordedSegment(
                    "video",
                    file,
                    opened.init,
                    event["start"],
                    event["ticks"],
                    event["timescale"],
                    event["size"],
                    event["wall_clock"],
                    complete=True,
                )
            )
    index.close()
    return segments


def test_complete_segments_are_read_in_order(live_run, tmp_path):
    segments = _recorded(live_run, tmp_path)
    recording = read_recording(tmp_path)
    assert [s.ticks for s in recording.tracks["video"]] == [e["ticks"] for e in segments]
    assert recording.duration == pytest.approx(sum(e["duration"] for e in segments))
    assert recording.size == sum(e["size"] for e in segments) + (tmp_path / "video/init_0.mp4").stat().st_size


def test_an_opened_segment_is_recovered_from_its_complete_fragments(live_run, tmp_path):
    segments = _recorded(live_run, tmp_path, complete_last=False)
    last = segments[-1]
    torn = tmp_path / f"video/{len(segments) - 1}.m4s"
    data = torn.read_bytes()
    torn.write_bytes(data[:-10])  # the last part's mdat torn by a crash
    recovered = read_recording(tmp_path).tracks["video"][-1]
    assert recovered.complete
    assert last["start"] - last["timescale"] * 0.2 < recovered.start <= last["start"]  # its decode time
    assert 0 < recovered.ticks < last["ticks"]
    assert 0 < recovered.size < len(data) - 10
    whole = read_recording(tmp_path)  # a torn index line is ignored
    with open(tmp_path / "index.jsonl", "a") as index:
        index.write('{"track": "vid')
    assert read_recording(tmp_path).tracks == whole.tracks


def test_an_opened_segment_with_no_complete_fragment_is_left_out(live_run, tmp_path):
    segments = _recorded(live_run, tmp_path, complete_last=False)
    (tmp_path / f"video/{len(segments) - 1}.m4s").write_bytes(b"")
    assert len(read_recording(tmp_path).tracks["video"]) == len(segments) - 1


def test_a_recording_without_index_is_empty(tmp_path):
    assert read_recording(tmp_path).tracks == {}
    assert read_recording(tmp_path).duration == 0
