"""Local recording storage: keys name directories, nothing outside them is reachable."""

import pytest

from server.storage import LocalRecordingStorage, new_recording_key


def test_files_of_a_recording_and_nothing_outside_it(tmp_path):
    storage = LocalRecordingStorage(tmp_path / "recordings")
    key = new_recording_key()
    directory = storage.local_directory(key)
    (directory / "video").mkdir(parents=True)
    (directory / "video/0.m4s").write_bytes(b"x")
    (tmp_path / "secret").write_text("no")
    assert storage.file(key, "video/0.m4s") == (directory / "video/0.m4s").resolve()
    assert storage.file(key, "../../secret") is None
    assert storage.file(key, "video/1.m4s") is None
    storage.delete(key)
    assert not directory.exists()
    storage.delete(key)  # already gone: not an error


@pytest.mark.parametrize("key", ["", "../x", "a/b", "x" * 65])
def test_a_key_that_is_not_one_is_refused(tmp_path, key):
    with pytest.raises(ValueError, match="not a recording key"):
        LocalRecordingStorage(tmp_path).local_directory(key)


def test_keys_are_long_and_distinct():
    keys = {new_recording_key() for _ in range(100)}
    assert len(keys) == 100 and all(len(k) >= 22 for k in keys)  # 128 bits, base64url
