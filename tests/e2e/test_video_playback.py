"""A recorded video played back from a real node: FFmpeg decodes its HLS, DASH and MP4 over
HTTP, the MP4 answers Range requests, and hls.js and dash.js play it in the built-in player.

The recordings are made directly in the node's storage from real packager runs (rows as the
recorder makes them); the recorder itself is tested apart. The two-run video has what a
publisher coming back leaves: a discontinuity, a new init, a timeline that starts again.
"""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from tests.packager.packager_testkit import make_clip
from tests.support import browser
from tests.support.browser import chromium_page
from tests.support.players import vlc_read
from tests.support.recordings import clip_runs, packager_run, recorded_video

FRAMES_PER_RUN = 150  # 6 s at 25 fps
STATE = (
    "({...window.headwaterPlayer, t: document.getElementById('video').currentTime,"
    " duration: document.getElementById('video').duration,"
    " ended: document.getElementById('video').ended,"
    " buffered: Array.from({length: video.buffered.length},"
    " (_, i) => [video.buffered.start(i), video.buffered.end(i)]),"
    " status: document.getElementById('status').hidden ? '' : document.getElementById('status').textContent})"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return clip_runs(tmp_path_factory.mktemp("runs"), 2)


@pytest.fixture(scope="module")
def bigger_run(tmp_path_factory):
    """The same clip at 640x480: a publisher back at another size."""
    directory = tmp_path_factory.mktemp("bigger")
    return packager_run(make_clip(directory / "clip640.flv", gop=25, sizes=("640x480",)), directory / "run")


@pytest.fixture(scope="module")
def videos(media_node, runs, bigger_run):
    """One video of one run, one of two, one whose second run changed size; each answered as
    the SDK would see it."""
    found = {}
    with httpx.Client(base_url=media_node.base_url, headers=media_node.headers) as http:
        for name, recorded in (("one", runs[:1]), ("two", runs), ("resized", [runs[0], bigger_run])):
            video_id, _ = recorded_video(media_node, recorded, name=f"playback {name}")
            found[name] = http.get(f"/streaming/videos/{video_id}").json()
    return found


def video_frames(url: str, *extra: str) -> list[int]:
    """Presentation times (in frames) of every decoded video frame, in order."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", *extra, "-i", url, "-map", "0:v", "-vsync", "passthrough", "-f", "framemd5", "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [int(line.split(",")[2]) for line in out.splitlines() if not line.startswith("#")]


def duration(url: str) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", url],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return float(json.loads(out)["format"]["duration"])


def continuous(frames: list[int], count: int) -> bool:
    return len(frames) == count and all(b - a == 1 for a, b in zip(frames, frames[1:], strict=False))


def test_ffmpeg_decodes_hls_dash_and_mp4_over_http_from_start_to_end(videos):
    one, two = videos["one"], videos["two"]
    assert continuous(video_frames(one["hls_url"]), FRAMES_PER_RUN)
    assert continuous(video_frames(one["dash_url"]), FRAMES_PER_RUN)
    assert duration(one["hls_url"]) == pytest.approx(6.0, abs=0.1)
    assert duration(one["dash_url"]) == pytest.approx(6.0, abs=0.1)
    # the whole two-run recording in one file, one timeline (FFmpeg's HLS and DASH demuxers
    # handle neither a discontinuity's time reset nor a second Period: the players do)
    assert continuous(video_frames(two["origin_url"]), 2 * FRAMES_PER_RUN)
    assert duration(two["origin_url"]) == pytest.approx(12.0, abs=0.1)
    assert two["duration"] == 12000
    seeked = video_frames(two["origin_url"], "-ss", "9")
    assert continuous(seeked, len(seeked)) and abs(len(seeked) - 3 * 25) <= 2


def test_the_mp4_answers_range_requests(videos):
    url = videos["two"]["origin_url"]
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes" and "immutable" in whole.headers["cache-control"]
    size = len(whole.content)
    assert int(whole.headers["content-length"]) == size
    middle = httpx.get(url, headers={"Range": f"bytes={size // 2}-{size // 2 + 99_999}"})
    assert middle.status_code == 206 and middle.content == whole.content[size // 2 : size // 2 + 100_000]
    assert middle.headers["content-range"] == f"bytes {size // 2}-{size // 2 + 99_999}/{size}"
    tail = httpx.get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == whole.content[-500:]
    rest = httpx.get(url, headers={"Range": f"bytes={size - 10}-"})
    assert (
        rest.content == whole.content[-10:] and rest.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
    )
    beyond = httpx.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    head = httpx.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size and not head.content
    saved = httpx.get(f"{url}/download", headers={"Range": "bytes=0-99"})
    assert saved.status_code == 206 and saved.content == whole.content[:100]
    assert saved.headers["content-disposition"] == f'attachment; filename="video_{videos["two"]["id"]}.mp4"'
    assert "content-disposition" not in whole.headers
    assert httpx.get(url.replace("video.mp4", "master.m3u8/download")).status_code == 404


def test_playlists_and_segments_are_served_with_their_types(videos):
    base = videos["two"]["hls_url"].rsplit("/", 1)[0]
    master = httpx.get(videos["two"]["hls_url"])
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["access-control-allow-origin"] == "*"
    playlist = httpx.get(f"{base}/video.m3u8").text
    assert "#EXT-X-DISCONTINUITY" in playlist and playlist.rstrip().endswith("#EXT-X-ENDLIST")
    segment = httpx.get(f"{base}/video/3.m4s")
    assert segment.status_code == 200 and segment.headers["content-type"] == "video/iso.segment"
    assert "immutable" in segment.headers["cache-control"]
    part = httpx.get(f"{base}/video/3.m4s", headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == segment.content[:8]
    assert httpx.get(videos["two"]["dash_url"]).headers["content-type"] == "application/dash+xml"
    head = httpx.head(videos["two"]["hls_url"])
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(master.content) and not head.content
    preflight = httpx.options(f"{base}/video.mp4")
    assert preflight.status_code == 204 and "GET" in preflight.headers["access-control-allow-methods"]
    assert httpx.post(videos["two"]["hls_url"]).status_code == 405
    for missing in ("video/99.m4s", "index.jsonl", "../index.jsonl", "video.m3u8x"):
        assert httpx.get(f"{base}/{missing}").status_code == 404, missing


@pytest.mark.parametrize("engine", ["hls", "dash"])
def test_the_built_in_player_plays_the_video_across_its_discontinuity_to_the_end(videos, engine):
    video = videos["two"]
    with chromium_page() as tab:
        tab.goto(video["iframe_url"] + ("?engine=dash" if engine == "dash" else ""))
        started = browser.watch(tab, STATE, lambda s: s["t"] > 0.5, timeout=20)
        assert started["t"] > 0.5 and started["engine"] == engine, started
        tab.evaluate("document.getElementById('video').currentTime = 4")  # the VOD controls seek
        ended = browser.watch(tab, STATE, lambda s: s["ended"] or s["state"] == "ended", timeout=30)
    assert ended["state"] == "ended" and ended["status"] == "Ended", ended
    assert ended["t"] == pytest.approx(12.0, abs=0.3) and not ended["errors"], ended
    assert ended["duration"] == pytest.approx(12.0, abs=0.3), ended


def test_vlc_plays_the_mp4_whole(videos):
    decoded = vlc_read(videos["two"]["origin_url"], seconds=20)
    steps = {round(b - a) for a, b in zip(decoded.times, decoded.times[1:], strict=False)}
    assert len(decoded.times) >= 2 * FRAMES_PER_RUN - 10 and steps == {3600}, decoded.log  # 25 fps in 90 kHz


def test_chromium_plays_and_seeks_the_mp4(videos):
    url = videos["two"]["origin_url"]
    state = (
        "({t: video.currentTime, duration: video.duration, ended: video.ended,"
        " error: video.error && video.error.message})"
    )
    with chromium_page() as tab:
        tab.set_content(f'<video id="video" src="{url}" muted autoplay></video>')
        started = browser.watch(tab, state, lambda s: s["t"] > 0.5 or s["error"], timeout=20)
        assert started["t"] > 0.5 and started["duration"] == pytest.approx(12.0, abs=0.2), started
        tab.evaluate("video.currentTime = 9")  # into the second run: a Range request past what was read
        ended = browser.watch(tab, state, lambda s: s["ended"] or s["error"], timeout=20)
    assert ended["ended"] and not ended["error"] and ended["t"] == pytest.approx(12.0, abs=0.2), ended


def test_chromium_plays_the_mp4_of_a_video_that_changed_size(videos):
    url = videos["resized"]["origin_url"]
    state = (
        "({t: video.currentTime, width: video.videoWidth, ended: video.ended,"
        " error: video.error && video.error.message})"
    )
    with chromium_page() as tab:
        tab.set_content(f'<video id="video" src="{url}" muted autoplay></video>')
        started = browser.watch(tab, state, lambda s: s["t"] > 0.5 or s["error"], timeout=20)
        assert started["width"] == 320, started
        tab.evaluate("video.currentTime = 5")
        ended = browser.watch(tab, state, lambda s: s["ended"] or s["error"], timeout=20)
    assert ended["ended"] and not ended["error"] and ended["width"] == 640, ended
