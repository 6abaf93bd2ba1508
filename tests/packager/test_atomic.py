"""write_atomic: a rewritten file is swapped in whole, with or without renameat2, and once
its spare exists a rewrite creates no file. GrowingFile: pieces appended at known offsets."""

from __future__ import annotations

import os

import pytest

from packager import atomic
from packager.atomic import GrowingFile, spare_path, write_atomic


def _entries(directory) -> list[str]:
    return sorted(os.listdir(directory))


def test_first_write_creates_the_file(tmp_path):
    write_atomic(tmp_path / "index.m3u8", "#EXTM3U\n")
    assert (tmp_path / "index.m3u8").read_text() == "#EXTM3U\n"
    assert _entries(tmp_path) == ["index.m3u8"]


def test_rewrites_replace_the_content_and_reuse_one_spare(tmp_path):
    path = tmp_path / "index.m3u8"
    inodes = set()
    for i in range(50):
        write_atomic(path, f"#EXTM3U\n#{i}\n" * (50 - i))  # shrinking: no stale tail
        inodes.add(path.stat().st_ino)
    assert path.read_text() == "#EXTM3U\n#49\n"
    assert _entries(tmp_path) == [spare_path(path).name, "index.m3u8"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    if atomic._renameat2 is not None:
        assert len(inodes) == 2  # the file and its spare, swapped back and forth


def test_a_reader_of_the_old_version_keeps_it_whole_until_the_next_write(tmp_path):
    path = tmp_path / "index.m3u8"
    write_atomic(path, b"old " * 1000)
    with open(path, "rb") as reader:
        write_atomic(path, b"new " * 10)
        assert path.read_bytes() == b"new " * 10
        assert reader.read() == b"old " * 1000


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
    assert _entries(tmp_path) == ["index.m3u8"]  # renamed over: no spare left behind


@pytest.mark.parametrize("writes_before", [1, 3])  # without a spare yet, and with one
def test_a_failed_write_leaves_the_file_as_it_was(tmp_path, monkeypatch, writes_before):
    path = tmp_path / "index.m3u8"
    for i in range(writes_before):
        write_atomic(path, f"version {i}")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "pwrite", fail)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, "next")
    assert path.read_text() == f"version {writes_before - 1}"
    monkeypatch.undo()
    write_atomic(path, "after")
    assert path.read_text() == "after"


def test_growing_file_appends_pieces_at_the_offsets_it_returns(tmp_path):
    pieces = [bytes([i]) * (1000 + 7 * i) for i in range(5)]
    growing = GrowingFile(tmp_path / "seg_0.m4s")
    offsets = [growing.append(piece) for piece in pieces]
    data = (tmp_path / "seg_0.m4s").read_bytes()  # readable while it grows
    assert [data[o : o + len(p)] for o, p in zip(offsets, pieces)] == pieces
    growing.close()
    assert (tmp_path / "seg_0.m4s").read_bytes() == b"".join(pieces)
    with pytest.raises(ValueError, match="is closed"):
        growing.append(b"late")
