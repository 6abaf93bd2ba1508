"""Recordings on S3-compatible object storage (`HEADWATER_S3_*`): any node plays any video.

The worker still records to the node's disk (crash-safe, fragment by fragment, as on local
disk); when a recording is finalized the node uploads its files to
`<bucket>/recordings/<key>/<name>` (boto3 on a thread: multipart above 16 MB, retried) and
deletes the local copy. A node reading a video fetches its small files (index, inits,
screenshot) at once and each media file when it is first asked for, into a bounded cache on
its disk (`s3_cache_bytes`, least recently used out first): from there it is served with
sendfile and ranges as a local recording is, and the MP4 download's moofs are read and patched
as they are on local disk. A segment is one small immutable object, so fetching it whole is
one GET, and the cache (like nginx in front) carries a video's repeated views.

The secret key is a SecretStr, given to boto3 in memory only: never logged, never in argv.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from packager.recording_layout import INDEX_NAME
from server.settings import Settings
from server.storage import KEY_PATTERN, LocalRecordingStorage

log = logging.getLogger("headwater.object_storage")

PREFIX = "recordings"
MULTIPART = TransferConfig(multipart_threshold=16 << 20, multipart_chunksize=16 << 20, max_concurrency=4)
CLIENT = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)
UPLOAD_ATTEMPTS = 3  # a recording's whole upload, each file retried by boto3 within each
MISSING = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}


class ObjectCache:
    """Files fetched from the bucket, on local disk, at most `limit` bytes (thread-safe)."""

    def __init__(self, root: Path, limit: int) -> None:
        shutil.rmtree(root, ignore_errors=True)  # a cache: what a last run left is not counted
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.limit = limit
        self.sizes: OrderedDict[Path, int] = OrderedDict()
        self.total = 0
        self.lock = threading.Lock()

    def path(self, key: str, name: str) -> Path:
        return self.root / key / name

    def get(self, key: str, name: str) -> Path | None:
        path = self.path(key, name)
        with self.lock:
            if path not in self.sizes:
                return None
            self.sizes.move_to_end(path)
        return path

    def add(self, path: Path) -> None:
        size = path.stat().st_size
        with self.lock:
            self.total += size - self.sizes.pop(path, 0)
            self.sizes[path] = size
            while self.total > self.limit and len(self.sizes) > 1:
                old, old_size = self.sizes.popitem(last=False)
                self.total -= old_size
                old.unlink(missing_ok=True)  # a file being sent stays readable through its fd

    def forget(self, key: str) -> None:
        directory = self.root / key
        with self.lock:
            for path in [path for path in self.sizes if path.is_relative_to(directory)]:
                self.total -= self.sizes.pop(path)
        shutil.rmtree(directory, ignore_errors=True)


class ObjectRecordingStorage:
    """`RecordingStorage` on a bucket: written locally, published, read through `ObjectCache`."""

    def __init__(self, settings: Settings) -> None:
        assert settings.s3_secret_key is not None and settings.s3_bucket is not None
        self.bucket = settings.s3_bucket
        self.local = LocalRecordingStorage(settings.recording_dir)
        self.cache = ObjectCache(settings.object_cache_dir, settings.s3_cache_bytes)
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key,
            aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
            config=CLIENT,
        )
        self.bucket_ready = False

    def local_directory(self, key: str) -> Path:
        return self.local.local_directory(key)

    def reading_directory(self, key: str) -> Path:
        """Before it is published the recording is read where it is written; after, its
        index, inits and the files of segments a crash left open are fetched."""
        written = self.local.local_directory(key)
        if (written / INDEX_NAME).is_file():
            return written
        index = self.file(key, INDEX_NAME)
        if index is None:
            return self.cache.root / key
        for name in _files_to_read(index.read_text()):
            self.file(key, name)
        return self.cache.root / key

    def file(self, key: str, name: str) -> Path | None:
        written = self.local.file(key, name)
        if written is not None:
            return written
        if (found := self.cached(key, name)) is not None:
            return found
        path = self.cache.path(key, name)
        if not path.resolve().is_relative_to((self.cache.root / key).resolve()):
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        try:
            self.client.download_file(self.bucket, _object_key(key, name), str(part))
        except ClientError as error:
            part.unlink(missing_ok=True)
            if _code(error) in MISSING:
                return None
            raise
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.replace(path)
        self.cache.add(path)
        return path

    def cached(self, key: str, name: str) -> Path | None:
        return self.cache.get(key, name) if KEY_PATTERN.match(key) else None

    def publish(self, key: str) -> None:
        """Every file of the recording to the bucket, then the local copy deleted; raises
        (the local copy kept) when the bucket does not take them after a few attempts."""
        directory = self.local.local_directory(key)
        files = sorted(path for path in directory.rglob("*") if path.is_file())
        if not files:
            return
        self._ensure_bucket()
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                for path in files:
                    name = path.relative_to(directory).as_posix()
                    self.client.upload_file(str(path), self.bucket, _object_key(key, name), Config=MULTIPART)
                break
            except (BotoCoreError, ClientError) as error:
                if attempt == UPLOAD_ATTEMPTS:
                    raise
                log.warning("recording %s: upload attempt %d failed: %s", key, attempt, error)
                time.sleep(2.0 * attempt)
        log.info("recording %s: %d files uploaded to the object storage", key, len(files))
        self.local.delete(key)

    def delete(self, key: str) -> None:
        self.local.delete(key)
        self.cache.forget(key)
        for names in self._listed(key):
            if names:
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": name} for name in names], "Quiet": True}
                )

    def names(self, key: str) -> list[str]:
        """The recording's files in the bucket (their names in the recording)."""
        prefix = _object_key(key, "")
        return [name[len(prefix) :] for names in self._listed(key) for name in names]

    def _listed(self, key: str) -> list[list[str]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=_object_key(key, ""))
        try:
            return [[item["Key"] for item in page.get("Contents", [])] for page in pages]
        except ClientError as error:
            if _code(error) in MISSING:
                return []
            raise

    def _ensure_bucket(self) -> None:
        if self.bucket_ready:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            if _code(error) not in MISSING:
                raise
            log.info("making the bucket %s", self.bucket)
            self.client.create_bucket(Bucket=self.bucket)
        self.bucket_ready = True


def _files_to_read(index: str) -> set[str]:
    """The inits an index names, and the files of segments its last line about them leaves
    open (a crash: `read_recording` recovers them from their bytes)."""
    latest: dict[str, dict[str, Any]] = {}
    for line in index.splitlines():
        try:
            segment = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash
        if isinstance(segment, dict) and isinstance(segment.get("file"), str):
            latest[segment["file"]] = segment
    names = {segment["init"] for segment in latest.values() if isinstance(segment.get("init"), str)}
    return names | {name for name, segment in latest.items() if not segment.get("complete")}


def _object_key(key: str, name: str) -> str:
    if not KEY_PATTERN.match(key):
        raise ValueError(f"not a recording key: {key!r}")
    return f"{PREFIX}/{key}/{name}"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
