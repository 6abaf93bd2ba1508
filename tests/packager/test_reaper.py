"""The worker's Reaper deletes expired media off the packaging thread (an unlink on a
`discard` mount can take a third of a second), in order, and `close()` waits for it."""

from __future__ import annotations

import logging
import threading

import packager.reaper as reaper_module
from packager.reaper import Reaper


def test_every_path_is_deleted_in_order_on_another_thread(tmp_path, monkeypatch):
    paths = [tmp_path / f"seg_{n}.m4s" for n in range(5)]
    for path in paths:
        path.write_bytes(b"x" * 1000)
    deleted: list[tuple[str, str]] = []
    real_remove = reaper_module.remove_quietly

    def recording_remove(path):
        deleted.append((path.name, threading.current_thread().name))
        return real_remove(path)

    monkeypatch.setattr(reaper_module, "remove_quietly", recording_remove)
    reaper = Reaper()
    for path in paths:
        reaper.remove(path)
    reaper.close()
    assert [name for name, _ in deleted] == [path.name for path in paths]
    assert {thread for _, thread in deleted} == {"reaper"}
    assert not any(path.exists() for path in paths)


def test_a_path_that_cannot_be_deleted_is_logged_and_the_rest_still_go(tmp_path, caplog):
    directory = tmp_path / "not_a_file"
    directory.mkdir()
    later = tmp_path / "seg_1.m4s"
    later.write_bytes(b"x")
    reaper = Reaper()
    with caplog.at_level(logging.WARNING, logger="headwater.packager"):
        reaper.remove(tmp_path / "already_gone.m4s")
        reaper.remove(directory)
        reaper.remove(later)
        reaper.close()
    assert not later.exists() and directory.exists()
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and warnings[0].startswith(f"could not delete {directory}")


def test_close_waits_for_nothing_when_nothing_was_handed_over():
    reaper = Reaper()
    reaper.close()
    assert reaper._thread is None
