"""The node's clips outside the media path (the e2e module cuts real ones)."""

from __future__ import annotations

from server.media.clips import Clips


def test_a_node_start_deletes_the_clips_a_previous_run_left(tmp_path):
    leftover = tmp_path / "clips" / "Hqll3ohAgOCqKZFJ8t235w" / "0" / "video"
    leftover.mkdir(parents=True)
    (leftover / "0.m4s").write_bytes(b"media")
    Clips(tmp_path / "clips", lambda _stream_id: None).start()
    assert list((tmp_path / "clips").iterdir()) == []
