"""A worker's FileThread: deletions and playlist copies run off the packaging thread (an unlink
on a `discard` mount, or a rename while writeback holds the directory, can take a third of a
second), in the order given, and `close()` waits for them."""

from __future__ import annotations

import logging
import threading

import packager.file_thread as file_thread
from packager.file_thread import FileThread


def test_calls_run_in_order_on_the_files_thread(tmp_path, monkeypatch):
    segments = [tmp_path / f"seg_{n}.m4s" for n in range(3)]
    for path in segments:
        path.write_bytes(b"x" * 1000)
    playlist = tmp_path / "index.m3u8"
    calls: list[tuple[str, str, str]] = []

    def recording(name, real):
        def call(path, *args):
            calls.append((name, path.name, threading.current_thread().name))
            return real(path, *args)

        return call

    monkeypatch.setattr(file_thread, "remove_quietly", recording("remove", file_thread.remove_quietly))
    monkeypatch.setattr(file_thread, "write_atomic", recording("write", file_thread.write_atomic))
    files = FileThread()
    files.write_atomic(playlist, "#EXTM3U\n#1\n")
    for path in segments:
        files.remove(path)
    files.write_atomic(playlist, "#EXTM3U\n#2\n")
    files.close()
    assert [(name, path) for name, path, _ in calls] == [
        ("write", "index.m3u8"),
        ("remove", "seg_0.m4s"),
        ("remove", "seg_1.m4s"),
        ("remove", "seg_2.m4s"),
        ("write", "index.m3u8"),
    ]
    assert {thread for _, _, thread in calls} == {"files"}
    assert playlist.read_text() == "#EXTM3U\n#2\n"
    assert not any(path.exists() for path in segments)


def test_a_call_that_fails_is_logged_and_the_rest_still_run(tmp_path, caplog):
    directory = tmp_path / "not_a_file"
    directory.mkdir()
    later = tmp_path / "seg_1.m4s"
    later.write_bytes(b"x")
    files = FileThread()
    with caplog.at_level(logging.WARNING, logger="headwater.packager"):
        files.remove(tmp_path / "already_gone.m4s")  # not an error: the window may retry
        files.remove(directory)
        files.write_atomic(tmp_path / "missing_dir" / "index.m3u8", "#EXTM3U\n")
        files.remove(later)
        files.close()
    assert not later.exists() and directory.exists()
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert warnings[0].startswith(f"could not delete {directory}")
    assert warnings[1].startswith(f"could not write {tmp_path / 'missing_dir' / 'index.m3u8'}")


def test_close_waits_for_nothing_when_nothing_was_handed_over():
    files = FileThread()
    files.close()
    assert files._thread is None
