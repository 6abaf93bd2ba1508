"""Recordings for the video library's tests, made from real packager runs.

Each run is one live output (`tests/packager/packager_testkit.package`) of a real clip; its
video and audio segments are copied into a recording laid out as the recorder writes it
(`packager/recording_layout.py`), one init generation per run, the first segment of every run
after the first marked as a discontinuity (as a new worker's is). Two runs of the same clip
restart their timelines: the second run's decode times go back, as after a node restart.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from packager.recording_layout import IndexWriter, RecordedSegment
from tests.packager.packager_testkit import Run, package

RENDITIONS = {"video": "origin", "audio": "audio"}


def packager_run(clip: Path, out_dir: Path) -> Run:
    return package(clip, out_dir, window_segments=1000)


def write_recording(runs: list[Run], directory: Path) -> Path:
    """The runs' segments as one recording in `directory`; returns it."""
    index = IndexWriter(directory)
    numbers = {"video": 0, "audio": 0}
    for generation, run in enumerate(runs):
        for track, rendition in RENDITIONS.items():
            segments = run.of("segment", rendition)
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
