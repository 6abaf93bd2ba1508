"""A publisher that changes picture size mid-stream, through a real worker with a quality set.

The source is what RTMP brings from `ffmpeg -c copy` of a size-changing MPEG-TS: 4 s at
640x360, then 4 s at 320x180, the new SPS in-band. The origin must tell the new size (init
segment, masters, MPD), every variant must cut and mark the discontinuity at the same
segment, and the 240p rendition must keep its size and every frame across the change.
"""

from __future__ import annotations

import io
import os
import subprocess
import xml.etree.ElementTree as ET

import av
import pytest

from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.size_change import init_sizes, init_sps, size_changing_clip
from tests.support.worker_events import plain
from transcode.contract import InputData, StartInput, WorkerConfig, encode_command
from transcode.ladder import Rendition
from transcode.worker import run

SOURCE_FRAMES = 200  # 8 s at 25 fps
CHANGE_MSN = 2  # 2 s segments: the new size starts segment 2
MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


@pytest.fixture(scope="module")
def changed_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("format-change")
    clip = size_changing_clip(directory, container="flv")
    out = directory / "out"
    config = WorkerConfig(
        stream_id=1, out_dir=str(out), x264_preset="ultrafast", renditions=[Rendition("240p", 426, 240, 250)]
    )
    events: list[dict] = []
    records = directory / "clip.records"  # what the node writes into a worker's stdin
    records.write_bytes(encode_command(StartInput("flv")) + encode_command(InputData(clip.read_bytes())))
    fd = os.open(records, os.O_RDONLY)
    try:
        run(config, lambda event: events.append(plain(event)), source_fd=fd)
    finally:
        os.close(fd)
    return out, events


def decoded(out, rendition: str) -> dict[int, list[tuple[float, int, int]]]:
    """msn → (time, width, height) of each frame, each segment decoded with its own init."""
    playlist = parse_media_playlist((out / rendition / "index.m3u8").read_text())
    segments = {}
    for segment in playlist.segments:
        data = (out / rendition / segment.map_uri).read_bytes() + (out / rendition / segment.uri).read_bytes()
        with av.open(io.BytesIO(data)) as container:
            segments[segment.msn] = [(float(f.pts * f.time_base), f.width, f.height) for f in container.decode(video=0)]
    return segments


def test_the_origin_gets_a_new_init_segment_at_the_new_size(changed_run):
    out, events = changed_run
    inits = [e["path"] for e in events if e["event"] == "init"]
    assert set(inits) == {f"{r}/init{g}.mp4" for r in ("origin", "audio", "240p") for g in ("", "_1")}
    new = (out / "origin/init_1.mp4").read_bytes()
    assert (init_sps(new).width, init_sps(new).height) == (320, 180)
    assert init_sizes(new) == ((320, 180), (320, 180))
    for name in ("init.mp4", "init_1.mp4"):  # the rendition keeps its size, told right
        init = (out / "240p" / name).read_bytes()
        assert (init_sps(init).width, init_sps(init).height) == (426, 240)
        assert init_sizes(init) == ((426, 240), (426, 240))


def test_every_cmaf_playlist_has_its_discontinuity_at_the_same_segment(changed_run):
    out, _ = changed_run
    for rendition in ("origin", "240p", "audio"):
        playlist = parse_media_playlist((out / rendition / "index.m3u8").read_text())
        assert [s.msn for s in playlist.segments if s.discontinuity] == [CHANGE_MSN], rendition
        assert {s.map_uri for s in playlist.segments if s.msn >= CHANGE_MSN} == {"init_1.mp4"}, rendition


def test_the_rendition_keeps_its_size_and_every_frame_and_cuts_with_the_origin(changed_run):
    out, _ = changed_run
    origin, rendition = decoded(out, "origin"), decoded(out, "240p")
    assert set(origin) == set(rendition)
    for msn, frames in origin.items():
        assert {(w, h) for _, w, h in frames} == {(640, 360) if msn < CHANGE_MSN else (320, 180)}, msn
        assert {(w, h) for _, w, h in rendition[msn]} == {(426, 240)}, msn
        assert abs(frames[0][0] - rendition[msn][0][0]) < 0.02, msn  # same first frame
    assert sum(map(len, origin.values())) == sum(map(len, rendition.values())) == SOURCE_FRAMES


def test_the_masters_tell_the_new_size(changed_run):
    out, events = changed_run
    new_codec = init_sps((out / "origin/init_1.mp4").read_bytes()).codec
    for name, event in (("master.m3u8", "master"), ("master_mpegts.m3u8", "ts_master")):
        texts = [e["text"] for e in events if e["event"] == event]
        first = {v.uri.split("/")[0]: v.attributes for v in parse_master_playlist(texts[0])[0]}
        final = {v.uri.split("/")[0]: v.attributes for v in parse_master_playlist((out / name).read_text())[0]}
        assert first["origin"]["RESOLUTION"] == "640x360", name
        assert final["origin"]["RESOLUTION"] == "320x180", name
        assert final["origin"]["CODECS"].startswith(new_codec + ","), name
        assert first["240p"]["RESOLUTION"] == final["240p"]["RESOLUTION"] == "426x240", name


def test_ts_variants_mark_the_discontinuity_together_and_decode_across_it(changed_run):
    out, _ = changed_run
    marked = {}
    for rendition in ("origin", "240p"):
        playlist = parse_media_playlist((out / rendition / "mpegts.m3u8").read_text())
        marked[rendition] = [s.msn for s in playlist.segments if s.discontinuity]
    assert marked["origin"] == marked["240p"] == [CHANGE_MSN]
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(out / "origin/mpegts.m3u8"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.split()[0] == str(SOURCE_FRAMES) and probe.stderr == ""


def test_ffmpeg_reads_the_origin_playlist_across_the_change(changed_run):
    """(ffmpeg 5.1's DASH demuxer reads one Period of an MPD, so the MPD is checked apart.)"""
    out, _ = changed_run
    playlist = str(out / "origin/index.m3u8")
    probe = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", playlist, "-map", "0:v:0", "-f", "null", "-"], capture_output=True, text=True
    )
    assert probe.returncode == 0 and probe.stderr == "", probe.stderr
    frames = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            playlist,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert frames.stdout.split()[0] == str(SOURCE_FRAMES)


def test_the_mpd_has_a_period_per_size_with_every_representation(changed_run):
    out, _ = changed_run
    root = ET.fromstring((out / "index.mpd").read_text())
    sizes = []
    for period in root.findall("d:Period", MPD_NS):
        representations = {r.get("id"): r for r in period.iter(f"{{{MPD_NS['d']}}}Representation")}
        assert set(representations) == {"origin", "240p", "audio"}
        sizes.append(
            {name: (r.get("width"), r.get("height")) for name, r in representations.items() if name != "audio"}
        )
    assert sizes == [
        {"origin": ("640", "360"), "240p": ("426", "240")},
        {"origin": ("320", "180"), "240p": ("426", "240")},
    ]
