"""VOD playback of a recording: HLS playlists, the static MPD and the MP4 download, over
recordings made from real packager runs, decoded by FFmpeg."""

import json
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from packager.recording_layout import read_recording
from packager.vod_dash import vod_mpd
from packager.vod_hls import vod_master_playlist, vod_media_playlist
from packager.vod_mp4 import FileSpan, mp4_file
from packager.vod_tracks import read_init_facts
from tests.packager.packager_testkit import make_clip
from tests.support.recordings import packager_run, write_recording

FRAMES_PER_RUN = 150  # the 6 s clip at 25 fps
NS = "{urn:mpeg:dash:schema:mpd:2011}"


@pytest.fixture(scope="module")
def runs(clip_1s_gop, tmp_path_factory):
    return [packager_run(clip_1s_gop, tmp_path_factory.mktemp(f"live{n}")) for n in range(2)]


@pytest.fixture(scope="module")
def one_run(runs, tmp_path_factory):
    return _published(write_recording(runs[:1], tmp_path_factory.mktemp("one")))


@pytest.fixture(scope="module")
def two_runs(runs, tmp_path_factory):
    """A second worker's run after the first: its timeline starts again (decode times go back)."""
    return _published(write_recording(runs, tmp_path_factory.mktemp("two")))


def _published(directory):
    """The recording's playlists, MPD and MP4 written beside it, as the node serves them."""
    recording = read_recording(directory)
    facts = read_init_facts(recording)
    (directory / "master.m3u8").write_text(vod_master_playlist(recording, facts))
    for track, segments in recording.tracks.items():
        (directory / f"{track}.m3u8").write_text(vod_media_playlist(segments))
    (directory / "index.mpd").write_text(vod_mpd(recording, facts))
    (directory / "video.mp4").write_bytes(_whole_mp4(recording))
    return directory


def _whole_mp4(recording, start=0, end=None):
    mp4 = mp4_file(recording)
    out = bytearray()
    for part in mp4.parts(start, mp4.size if end is None else end):
        if isinstance(part, FileSpan):
            with open(part.path, "rb") as source:
                source.seek(part.offset)
                out += source.read(part.count)
        else:
            out += part
    return bytes(out)


def _video_frames(url, *extra):
    """Presentation times (in frames at 25 fps) of every decoded video frame, in order."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            *extra,
            "-i",
            str(url),
            "-map",
            "0:v",
            "-vsync",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [int(line.split(",")[2]) for line in out.splitlines() if not line.startswith("#")]


def _probe(url, *extra):
    out = subprocess.run(
        ["ffprobe", "-v", "error", *extra, "-show_entries", "format=duration", "-of", "json", str(url)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out)["format"]["duration"])


def _continuous(frames, count):
    return len(frames) == count and all(b - a == 1 for a, b in zip(frames, frames[1:]))


def test_media_playlists_mark_each_new_run_with_a_discontinuity_and_its_init(two_runs):
    text = (two_runs / "video.m3u8").read_text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.endswith("#EXT-X-ENDLIST\n")
    assert re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text) == ["video/init_0.mp4", "video/init_1.mp4"]
    lines = text.splitlines()
    assert lines[lines.index("#EXT-X-DISCONTINUITY") + 1] == '#EXT-X-MAP:URI="video/init_1.mp4"'
    assert lines.count("#EXT-X-DISCONTINUITY") == 1
    audio = (two_runs / "audio.m3u8").read_text()
    assert audio.count("#EXT-X-DISCONTINUITY") == 1  # aligned with the video's
    master = (two_runs / "master.m3u8").read_text()
    assert 'CODECS="avc1.64000d,mp4a.40.2"' in master and "RESOLUTION=320x240" in master
    assert 'URI="audio.m3u8"' in master and "\nvideo.m3u8\n" in master


def test_the_mpd_has_a_period_per_run_following_on(two_runs):
    root = ET.fromstring((two_runs / "index.mpd").read_text())
    assert root.get("type") == "static"
    assert root.get("mediaPresentationDuration") == "PT12.016S"  # to the end of the audio, 16 ms after the video
    periods = root.findall(f"{NS}Period")
    assert [p.get("start") for p in periods] == ["PT0S", "PT6S"]
    second = periods[1].findall(f".//{NS}SegmentList")
    assert [s.find(f"{NS}Initialization").get("sourceURL") for s in second] == ["video/init_1.mp4", "audio/init_1.mp4"]
    assert [u.get("media") for u in second[0].findall(f"{NS}SegmentURL")] == [
        "video/3.m4s",
        "video/4.m4s",
        "video/5.m4s",
    ]
    for listed in root.iter(f"{NS}SegmentList"):  # one <S> per segment: dash.js reads no `r` there
        timeline = listed.findall(f"{NS}SegmentTimeline/{NS}S")
        assert len(timeline) == len(listed.findall(f"{NS}SegmentURL")) and not any(s.get("r") for s in timeline)


def test_ffmpeg_decodes_the_hls_and_the_dash_of_a_run_from_start_to_end(one_run):
    assert _continuous(_video_frames(one_run / "master.m3u8", "-allowed_extensions", "ALL"), FRAMES_PER_RUN)
    assert _continuous(_video_frames(one_run / "index.mpd"), FRAMES_PER_RUN)
    assert _probe(one_run / "index.mpd") == pytest.approx(6.0, abs=0.05)


def test_the_mp4_of_two_runs_plays_on_with_continuous_frames(two_runs):
    """FFmpeg's HLS demuxer passes a discontinuity's time reset through and its DASH demuxer
    plays one Period (players do neither); the MP4 is the whole recording in one timeline."""
    frames = _video_frames(two_runs / "video.mp4")
    assert _continuous(frames, 2 * FRAMES_PER_RUN)
    assert _probe(two_runs / "video.mp4") == pytest.approx(12.0, abs=0.1)
    audio = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            str(two_runs / "video.mp4"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    times = [float(t) for t in audio]
    assert all(0 < b - a < 0.03 for a, b in zip(times, times[1:]))  # no gap, never back
    assert times[-1] == pytest.approx(12.0, abs=0.1)


def test_ffmpeg_seeks_into_the_second_run_of_the_mp4(two_runs):
    frames = _video_frames(two_runs / "video.mp4", "-ss", "8")
    assert _continuous(frames, len(frames)) and abs(len(frames) - 4 * 25) <= 2  # from 8 s to the end


def test_any_byte_range_of_the_mp4_is_the_same_bytes_as_the_whole(two_runs):
    recording = read_recording(two_runs)
    whole = (two_runs / "video.mp4").read_bytes()
    mp4 = mp4_file(recording)
    assert mp4.size == len(whole)
    for start, end in [
        (0, 10),
        (5, len(mp4.head) + 300),
        (len(whole) // 2, len(whole) // 2 + 70_000),
        (len(whole) - 9, len(whole)),
    ]:
        assert _whole_mp4(recording, start, end) == whole[start:end]


def test_the_mp4_of_a_recording_with_a_torn_last_segment_plays_what_was_written(runs, tmp_path):
    directory = write_recording(runs[:1], tmp_path)
    last = sorted((tmp_path / "video").glob("*.m4s"), key=lambda p: int(p.stem))[-1]
    with open(directory / "index.jsonl") as index:
        lines = index.readlines()
    (directory / "index.jsonl").write_text("".join(x for x in lines if not (last.name in x and '"complete":true' in x)))
    with open(last, "ab") as torn:
        torn.write(b"\x00\x00\x10\x00moof")  # a fragment torn by a crash
    recording = read_recording(directory)
    (tmp_path / "out.mp4").write_bytes(_whole_mp4(recording))
    frames = _video_frames(tmp_path / "out.mp4")
    assert _continuous(frames, FRAMES_PER_RUN)


@pytest.mark.parametrize("track", ["video", "audio"])
def test_a_recording_of_one_track_plays_alone(runs, tmp_path, track):
    directory = _published(write_recording(runs[:1], tmp_path, tracks=(track,)))
    master = (directory / "master.m3u8").read_text()
    assert "#EXT-X-MEDIA" not in master and f"\n{track}.m3u8\n" in master
    assert ("avc1" in master) == (track == "video") and ("mp4a" in master) == (track == "audio")
    assert len(ET.fromstring((directory / "index.mpd").read_text()).findall(f".//{NS}AdaptationSet")) == 1
    streams = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
            str(directory / "video.mp4"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert streams == [track]
    assert _probe(directory / "video.mp4") == pytest.approx(6.0, abs=0.1)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-i", str(directory / "video.mp4"), "-f", "null", "-"], check=True
    )


@pytest.fixture(scope="module")
def format_change(runs, media_dir, tmp_path_factory):
    """A publisher that came back at another size: the second run's init has another SPS."""
    bigger = make_clip(media_dir / "gop1_640.flv", gop=25, sizes=("640x480",))
    second = packager_run(bigger, tmp_path_factory.mktemp("live640"))
    return _published(write_recording([runs[0], second], tmp_path_factory.mktemp("format")))


def test_the_mp4_of_a_format_change_plays_both_sizes_cleanly(format_change):
    mp4 = format_change / "video.mp4"
    frames = _video_frames(mp4, "-xerror")  # a decode error fails
    assert _continuous(frames, 2 * FRAMES_PER_RUN)
    sizes = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "frame=width,height",
            "-of",
            "csv",
            str(mp4),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    sizes = re.findall(r"^frame,(\d+),(\d+)", sizes, re.MULTILINE)
    assert sizes == [("320", "240")] * FRAMES_PER_RUN + [("640", "480")] * FRAMES_PER_RUN
    seeked = _video_frames(mp4, "-xerror", "-ss", "8")  # decodes from a segment of the new size
    assert _continuous(seeked, len(seeked)) and len(seeked) > 90
    recording = read_recording(format_change)
    whole = mp4.read_bytes()
    assert mp4_file(recording).size == len(whole)
    for start in (len(whole) // 2, len(whole) - 200_000):
        assert _whole_mp4(recording, start, start + 100_000) == whole[start : start + 100_000]
