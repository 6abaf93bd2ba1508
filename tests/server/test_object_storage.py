"""The object storage against a real S3 server (SeaweedFS): a recording published from one
node's disk is read, file by file, by another node, and deleted from the bucket."""

from __future__ import annotations

import uuid

import pytest

from server.delivery.vod_library import load_video
from server.object_storage import ObjectRecordingStorage
from server.settings import Settings
from server.urls import SCREENSHOT
from tests.support.recordings import clip_runs, write_recording
from tests.support.seaweedfs import s3_env


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return clip_runs(tmp_path_factory.mktemp("runs"), 1)


def node_storage(s3_server, bucket: str, data_dir) -> ObjectRecordingStorage:
    env = {name.removeprefix("HEADWATER_").lower(): value for name, value in s3_env(s3_server, bucket).items()}
    return ObjectRecordingStorage(Settings(data_dir=data_dir, **env))


def test_a_published_recording_leaves_the_disk_and_plays_from_another_node(s3_server, runs, tmp_path):
    bucket = f"videos-{uuid.uuid4().hex[:8]}"
    writer = node_storage(s3_server, bucket, tmp_path / "node-1")
    reader = node_storage(s3_server, bucket, tmp_path / "node-3")
    written = write_recording(runs, writer.local_directory("key"))
    (written / SCREENSHOT).write_bytes(b"\xff\xd8jpeg")
    originals = {
        path.relative_to(written).as_posix(): path.read_bytes() for path in written.rglob("*") if path.is_file()
    }

    writer.publish("key")

    assert not written.exists()
    assert sorted(reader.names("key")) == sorted(originals)
    video = load_video(reader, "key")
    assert video is not None and video.has_screenshot
    assert video.recording.directory == tmp_path / "node-3" / "object-cache" / "key"
    segment = video.recording.tracks["video"][1].file
    assert reader.cached("key", segment) is None  # media is fetched when it is asked for, not before
    fetched = reader.file("key", segment)
    assert fetched is not None and fetched.read_bytes() == originals[segment]
    assert reader.cached("key", segment) == fetched
    assert reader.file("key", "video/999.m4s") is None
    assert reader.file("key", "../escape") is None

    reader.delete("key")

    assert reader.names("key") == [] and not fetched.exists()
    assert node_storage(s3_server, bucket, tmp_path / "node-2").file("key", segment) is None


def test_the_cache_keeps_the_recently_read_within_its_bytes(s3_server, runs, tmp_path):
    bucket = f"videos-{uuid.uuid4().hex[:8]}"
    writer = node_storage(s3_server, bucket, tmp_path / "node-1")
    write_recording(runs, writer.local_directory("key"))
    writer.publish("key")
    reader = node_storage(s3_server, bucket, tmp_path / "node-2")
    segments = [segment.file for segment in load_video(reader, "key").recording.tracks["video"]]
    first = reader.file("key", segments[0])
    reader.cache.limit = reader.cache.total + first.stat().st_size  # room for one more segment
    reader.file("key", segments[1])
    reader.file("key", segments[2])
    assert reader.cache.total <= reader.cache.limit
    assert not first.exists() and reader.cached("key", segments[0]) is None  # the oldest went first
    assert reader.cached("key", segments[2]) is not None
