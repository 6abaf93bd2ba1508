"""File writes: atomic ones for files that are rewritten, plain ones for new media files.

Playlists and manifests are rewritten in place while readers may be reading them, so each
write goes to a spare sibling (`.<name>.tmp`) that is then swapped with the file
(`renameat2` with RENAME_EXCHANGE). After the swap the spare holds the previous version, and
the next write overwrites that one: once both exist, a rewrite creates and deletes no file.
That matters here twice over. Creating a file is the costly step on this ext4 (tens to
hundreds of microseconds of kernel time); and on an ext4 without a journal every inode
allocation also steps over each inode freed in the last 30 s (`recently_deleted()`), so with
30 streams creating and deleting ~10 files a second each, every create scanned thousands
of inodes: a fifth of all the CPU the workers used. A reader that opened the previous
version keeps it whole until the next write overwrites the spare (one part duration later,
for a media playlist); the node itself serves playlists from memory.

A rename over an existing file would be just as atomic, but ext4 treats it as "replace via
rename" and writes the new file out on the spot (`auto_da_alloc`): measured here, 200-640 µs
of kernel time against ~30 µs for overwriting the spare and swapping. Without renameat2 (not
Linux, or a file system that refuses the swap) it is `os.replace`, and a new spare each time.

Media files (init and segment files) are written once under a name nobody has been told
about yet and announced only after the write: there is no old version to protect.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable
from pathlib import Path

AT_FDCWD = -100  # <fcntl.h>
RENAME_EXCHANGE = 2  # <linux/fs.h>


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `data` into the spare sibling, then swap it into `path`'s place atomically.

    A failed write leaves `path` as it was (the spare may hold part of the new data)."""
    if isinstance(data, str):
        data = data.encode()
    spare = spare_path(path)
    fd = os.open(spare, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        _write_all(fd, data, 0)
        os.ftruncate(fd, len(data))  # after the write: a shorter version than the spare's
    finally:
        os.close(fd)
    if not _exchange(spare, path):  # the first write, or no swap on this system
        os.replace(spare, path)


def spare_path(path: Path) -> Path:
    """Where `write_atomic` prepares the next version of `path` (the previous one, between writes)."""
    return path.with_name(f".{path.name}.tmp")


def _load_renameat2() -> Callable[..., int] | None:
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not glibc ≥ 2.28
        return None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    return renameat2


_renameat2 = _load_renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically; False when that cannot be done (`b` does not
    exist yet, or the system or file system has no RENAME_EXCHANGE)."""
    global _renameat2
    if _renameat2 is None:
        return False
    if _renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        _renameat2 = None  # this system or file system cannot: plain renames from now on
    elif code != errno.ENOENT:
        raise OSError(code, os.strerror(code), str(b))
    return False


def write_new(path: Path, data: bytes) -> None:
    """Write a media file that has not been announced yet (see the module docstring)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data, 0)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class GrowingFile:
    """A media file written in pieces, each announced once written: a CMAF segment whose
    parts are byte ranges of it. One file per segment instead of one per part, and no
    second copy of the segment's bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def append(self, data: bytes) -> int:
        """Write `data` at the end; returns the offset it starts at."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        offset = self.size
        _write_all(self._fd, data, offset)
        self.size += len(data)
        return offset

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def remove_quietly(path: Path) -> bool:
    """Delete a file; a file already gone is not an error (the window may retry)."""
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
