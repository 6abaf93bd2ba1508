"""Where recordings' files live: one small interface, so videos can move to object storage
(the scale-out issue) without the recorder or the video library changing.

A recording is a key (a string the node chooses, never a user's input) naming a directory of
files laid out as `packager/recording_layout.py` says. The worker writes it on local disk while
recording (crash-safe, fragment by fragment); once it is finalized the node `publish`es it (to
the object storage, `server/object_storage.py`, or nothing to do on local disk), and from then
on the video library reads and deletes it through this interface only.
"""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from server.settings import Settings

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def new_recording_key() -> str:
    """A key nobody can guess (it names files the node may serve)."""
    return secrets.token_urlsafe(16)


class RecordingStorage(Protocol):
    def local_directory(self, key: str) -> Path:
        """The local directory a recording is written into (and read from, on local disk)."""
        ...

    def reading_directory(self, key: str) -> Path:
        """A local directory holding the recording's index and inits, to read it from (blocking:
        from the object storage they are fetched); its media files may be missing: `file`."""
        ...

    def file(self, key: str, name: str) -> Path | None:
        """One file of a recording on local disk, None if it is not there or the name leaves
        the recording (blocking: from the object storage it is fetched)."""
        ...

    def cached(self, key: str, name: str) -> Path | None:
        """The file if it is on local disk at once (no I/O: the event loop asks), else None."""
        ...

    def publish(self, key: str) -> None:
        """The finalized recording goes where videos are kept (blocking)."""
        ...

    def delete(self, key: str) -> None:
        """Remove every file of a recording (blocking: call it off the event loop)."""
        ...


class LocalRecordingStorage:
    """Recordings under `<data_dir>/recordings/<key>/`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def local_directory(self, key: str) -> Path:
        if not KEY_PATTERN.match(key):
            raise ValueError(f"not a recording key: {key!r}")
        return self.root / key

    def reading_directory(self, key: str) -> Path:
        return self.local_directory(key)

    def file(self, key: str, name: str) -> Path | None:
        directory = self.local_directory(key).resolve()
        path = (directory / name).resolve()
        if not path.is_relative_to(directory) or not path.is_file():
            return None
        return path

    def cached(self, key: str, name: str) -> Path | None:
        return self.local_directory(key) / name  # names come from the recording's own index

    def publish(self, key: str) -> None:
        """Nothing to do: the recording stays where the worker wrote it."""

    def delete(self, key: str) -> None:
        shutil.rmtree(self.local_directory(key), ignore_errors=True)


def recording_storage(settings: Settings) -> RecordingStorage:
    """The node's recording storage: the object storage when it is set, else the local disk
    (boto3, a quarter of a second to import, only then)."""
    if not settings.object_storage:
        return LocalRecordingStorage(settings.recording_dir)
    from server.object_storage import ObjectRecordingStorage

    return ObjectRecordingStorage(settings)
