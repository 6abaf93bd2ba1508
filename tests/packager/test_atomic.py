"""write_atomic: a rewritten file is swapped in whole, with or without renameat2."""

from __future__ import annotations

import os

import pytest

from packager import atomic
from packager.atomic import write_atomic


def _entries(directory) -> list[str]:
    return sorted(os.listdir(directory))


def test_first_write_creates_the_file(tmp_path):
    write_atomic(tmp_path / "index.m3u8", "#EXTM3U\n")
    assert (tmp_path / "index.m3u8").read_text() == "#EXTM3U\n"
    assert _entries(tmp_path) == ["index.m3u8"]


def test_rewrites_replace_the_content_and_leave_no_temporary_file(tmp_path):
    path = tmp_path / "index.m3u8"
    for i in range(50):
        write_atomic(path, f"#EXTM3U\n#{i}\n" * (50 - i))  # shrinking: no stale tail
    assert path.read_text() == "#EXTM3U\n#49\n"
    assert _entries(tmp_path) == ["index.m3u8"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_a_reader_of_the_old_version_keeps_it_whole(tmp_path):
    path = tmp_path / "index.m3u8"
    write_atomic(path, b"old " * 1000)
    with open(path, "rb") as reader:
        write_atomic(path, b"new " * 10)
        write_atomic(path, b"newer " * 10)
        assert reader.read() == b"old " * 1000
    assert path.read_bytes() == b"newer " * 10


def test_the_swap_is_used_where_the_system_has_it(tmp_path, monkeypatch):
    if atomic._renameat2 is None:
        pytest.skip("no renameat2 here")
    replaced = []
    monkeypatch.setattr(atomic.os, "replace", lambda *args: replaced.append(args))
    path = tmp_path / "index.m3u8"
    path.write_text("one")
    write_atomic(path, "two")
    assert path.read_text() == "two" and replaced == []


def test_without_renameat2_it_renames_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_renameat2", None)
    path = tmp_path / "index.m3u8"
    write_atomic(path, "one")
    write_atomic(path, "two")
    assert path.read_text() == "two"
    assert _entries(tmp_path) == ["index.m3u8"]


def test_a_failed_write_leaves_the_old_version_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "index.m3u8"
    write_atomic(path, "one")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "write", fail)
    with pytest.raises(OSError):
        write_atomic(path, "two")
    assert path.read_text() == "one"
    assert _entries(tmp_path) == ["index.m3u8"]
