"""VOD delivery's pieces on their own: the Range header, and loading a recording (broken ones
included) into what the node serves."""

import pytest

from server.delivery.vod_http import requested_range
from server.delivery.vod_library import load_video
from server.storage import LocalRecordingStorage
from tests.support.recordings import clip_runs, write_recording


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, (0, 100, False)),
        (b"bytes=0-9", (0, 10, True)),
        (b"bytes=90-", (90, 100, True)),
        (b"bytes=-5", (95, 100, True)),
        (b"bytes=-500", (0, 100, True)),
        (b"bytes=50-500", (50, 100, True)),
        (b" bytes = 1 - 2 ", (1, 3, True)),
        (b"bytes=9-3", (0, 100, False)),  # invalid: ignored
        (b"bytes=0-1,5-6", (0, 100, False)),  # several: the whole body
        (b"items=0-5", (0, 100, False)),
        (b"bytes=-", (0, 100, False)),
        (b"bytes=100-", None),
        (b"bytes=100-200", None),
        (b"bytes=-0", None),
    ],
)
def test_requested_range(header, expected):
    found = requested_range(header, 100)
    assert (None if found is None else (found.start, found.end, found.partial)) == expected


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return clip_runs(tmp_path_factory.mktemp("runs"), 1)


def test_a_recording_loads_into_its_playlists_mpd_files_and_mp4(runs, tmp_path):
    write_recording(runs, tmp_path / "key")
    (tmp_path / "key" / "screenshot.jpg").write_bytes(b"jpeg")
    video = load_video(LocalRecordingStorage(tmp_path), "key")
    assert set(video.texts) == {"master.m3u8", "video.m3u8", "audio.m3u8", "index.mpd"}
    assert {"video/init_0.mp4", "audio/init_0.mp4", "video/0.m4s", "audio/2.m4s"} <= set(video.files)
    assert "index.jsonl" not in video.files
    media = sum(segment.size for segments in video.recording.tracks.values() for segment in segments)
    assert video.mp4 is not None and video.mp4.size == len(video.mp4.head) + media  # no byte added or lost
    assert video.has_screenshot


def test_nothing_to_play_is_none_not_an_error(runs, tmp_path):
    storage = LocalRecordingStorage(tmp_path)
    assert load_video(storage, "missing") is None
    write_recording(runs, tmp_path / "garbage")
    (tmp_path / "garbage" / "video" / "init_0.mp4").write_bytes(b"\x00\x00\x00\x08junk")
    assert load_video(storage, "garbage") is None
    write_recording(runs, tmp_path / "gone")
    (tmp_path / "gone" / "audio" / "init_0.mp4").unlink()
    assert load_video(storage, "gone") is None
