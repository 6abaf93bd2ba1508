"""Which live rendition a recording takes its video from (`WorkerContext._recorded_video`):
the choice only, over stand-ins for what the pipeline tells (its media are tested elsewhere)."""

from __future__ import annotations

from types import SimpleNamespace

from transcode.commands import WorkerContext
from transcode.contract import Rendition, WorkerConfig

LADDER = [Rendition("720p", 1280, 720, 3000), Rendition("360p", 640, 360, 800)]


def context(encoded: list[str], *, overlays: bool = False, origin_height: int = 720) -> WorkerContext:
    config = WorkerConfig(stream_id=1, out_dir="/x", renditions=LADDER, overlays=overlays)
    worker = WorkerContext(config, send=lambda event: None)
    origin = SimpleNamespace(resolution=(origin_height * 16 // 9, origin_height))
    worker.pipeline = SimpleNamespace(  # type: ignore[assignment]
        transcoder=SimpleNamespace(renditions=encoded),
        outputs=SimpleNamespace(variants={"origin": origin}),
        source_output="source" if overlays else "origin",
    )
    return worker


def test_origin_records_the_origin_and_transcoded_the_tallest_rung():
    assert context(["720p", "360p"])._recorded_video("origin") == "origin"
    assert context(["720p", "360p"])._recorded_video("transcoded") == "720p"
    assert context(["360p"])._recorded_video("transcoded") == "360p"  # 720p shed
    assert context([])._recorded_video("transcoded") == "origin"  # no quality set


def test_with_overlays_origin_records_the_unlisted_source_track():
    assert context(["origin", "360p"], overlays=True)._recorded_video("origin") == "source"


def test_with_overlays_the_rung_the_composited_origin_took_over_is_the_origin():
    merged = context(["origin", "360p"], overlays=True, origin_height=720)  # 720p source: origin = the 720p rung
    assert merged._recorded_video("transcoded") == "origin"
    apart = context(["origin", "720p", "360p"], overlays=True, origin_height=1080)
    assert apart._recorded_video("transcoded") == "720p"
