"""Recordings for the video library's tests, made from real packager runs.

Each run is one live output (`tests/packager/packager_testkit.package`) of a real clip; its
video and audio segments are copied into a recording laid out as the recorder writes it
(`packager/recording_layout.py`), one init generation per run, the first segment of every run
after the first marked as a discontinuity (as a new worker's is). Two runs of the same clip
restart their timelines: the second run's decode times go back, as after a node restart.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from packager.recording_layout import IndexWriter, RecordedSegment, read_recording
from server.db.engine import sync_url
from server.db.models import Video
from server.storage import LocalRecordingStorage, new_recording_key
from tests.packager.packager_testkit import Run, make_clip, package

RENDITIONS = {"video": "origin", "audio": "audio"}


def packager_run(clip: Path, out_dir: Path) -> Run:
    return package(clip, out_dir, window_segments=1000)


def write_recording(runs: list[Run], directory: Path, tracks: tuple[str, ...] = ("video", "audio")) -> Path:
    """The runs' segments (of `tracks`) as one recording in `directory`; returns it."""
    index = IndexWriter(directory)
    numbers = {"video": 0, "audio": 0}
    for generation, run in enumerate(runs):
        for track in tracks:
            segments = run.of("segment", RENDITIONS[track])
            if not segments:
                continue
            (directory / track).mkdir(exist_ok=True)
            init = f"{track}/init_{generation}.mp4"
            shutil.copy(run.out_dir / segments[0]["init"], directory / init)
            for position, event in enumerate(segments):
                file = f"{track}/{numbers[track]}.m4s"
                numbers[track] += 1
                shutil.copy(run.out_dir / event["path"], directory / file)
                opened = RecordedSegment(
                    track,
                    file,
                    init,
                    wall_clock=event["wall_clock"],
                    discontinuity=generation > 0 and position == 0,
                )
                index.append(opened)
                index.append(
                    RecordedSegment(
                        track,
                        file,
                        init,
                        event["start"],
                        event["ticks"],
                        event["timescale"],
                        event["size"],
                        event["wall_clock"],
                        opened.discontinuity,
                        complete=True,
                    )
                )
    index.close()
    return directory


def clip_runs(directory: Path, count: int) -> list[Run]:
    """`count` live output runs of one 6 s clip (25 fps, a keyframe a second, AAC)."""
    clip = make_clip(directory / "clip.flv", gop=25)
    return [packager_run(clip, directory / f"run{n}") for n in range(count)]


def insert_video(database_url: str, **fields) -> int:
    """A video row as the recorder makes one; its id."""
    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as db:
            video = Video(**fields)
            db.add(video)
            db.commit()
            return video.id
    finally:
        engine.dispose()


def recorded_video(node, runs: list[Run], *, screenshot: bytes | None = None, **fields) -> tuple[int, str]:
    """A `ready` video of `node` whose recording (in the node's storage) holds `runs`:
    (its id, its recording key)."""
    key = new_recording_key()
    directory = LocalRecordingStorage(node.data_dir / "recordings").local_directory(key)
    directory.mkdir(parents=True)
    write_recording(runs, directory)
    if screenshot is not None:
        (directory / "screenshot.jpg").write_bytes(screenshot)
    recording = read_recording(directory)
    fields = {
        "name": "recorded",
        "status": "ready",
        "duration": round(recording.duration * 1000),
        "origin_size": recording.size,
        "width": 320,
        "height": 240,
        "record_type": "origin",
        "recording_started_at": datetime.now(UTC),
        **fields,
    }
    return insert_video(node.database_url, recording_key=key, **fields), key
