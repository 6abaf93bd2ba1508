"""File writes: atomic ones for files that are rewritten, plain ones for new media files.

Playlists and manifests are rewritten in place while readers may be reading them, so they go
through a temporary sibling and a rename. Media files (init, parts, segments) are written once
under a name nobody has been told about yet, and announced only after the write: there is no
old version to protect, and the temporary file + rename would double the file-system work per
part (creating a file is the costly step here: tens of microseconds of kernel time each).
"""

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


def write_new(path: Path, data: bytes) -> None:
    """Write a media file that has not been announced yet (see the module docstring)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def remove_quietly(path: Path) -> bool:
    """Delete a file; a file already gone is not an error (the window may retry)."""
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
