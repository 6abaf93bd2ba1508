"""Atomic file writes: readers see the old file or the new one, never half of either."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write to a temporary sibling, then rename over `path` (atomic on POSIX)."""
    if isinstance(data, str):
        data = data.encode()
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
    os.replace(temporary, path)


def remove_quietly(path: Path) -> bool:
    """Delete a file; a file already gone is not an error (the window may retry)."""
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
