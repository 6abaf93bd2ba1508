"""Settings that depend on one another."""

from __future__ import annotations

from server.settings import Settings


def test_an_rtmp_publisher_rests_at_most_half_a_part():
    """With 0.2 s parts a 0.25 s rest delivered parts in pairs, and hls.js (one part per
    playlist update) fell behind live and stalled."""
    assert Settings().ingest_read_interval == 0.25  # half of the default 0.5 s part
    assert Settings(part_target=0.2).ingest_read_interval == 0.1
    assert Settings(part_target=0.2, ingest_read_interval=0.05).ingest_read_interval == 0.05
    assert Settings(part_target=1.0, ingest_read_interval=0.4).ingest_read_interval == 0.4
