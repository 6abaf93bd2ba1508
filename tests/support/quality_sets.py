"""Small quality sets for transcoding tests, written straight into a test node's SQLite DB.

The API only offers the built-in sets (as Gcore's does); their rungs start at 360p, too heavy
for a test publish on a shared 2-core machine. A test set is two rows away.
"""

from __future__ import annotations

import sqlite3

from tests.support.node import Node


def add_live_quality_set(node: Node, name: str, rungs: list[tuple[str, int, int, int]]) -> int:
    """Insert a live set of `(name, width, height, video kbit/s)` rungs; return its id."""
    path = node.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        cursor = db.execute("INSERT INTO quality_sets (name, kind, is_default) VALUES (?, 'live', 0)", (name,))
        set_id = cursor.lastrowid
        for position, (rung, width, height, kbit) in enumerate(rungs):
            db.execute(
                "INSERT INTO qualities (quality_set_id, position, name, width, height, video_bitrate,"
                " audio_bitrate, max_frame_rate) VALUES (?, ?, ?, ?, ?, ?, 64, 30)",
                (set_id, position, rung, width, height, kbit),
            )
    return set_id
