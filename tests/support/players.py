"""Third-party players reading a live stream as viewers' apps and set-top boxes do.

Each returns what it decoded, so a test can check that frames came out and their timestamps
went forward: ffmpeg (`ffprobe -show_frames` decodes), GStreamer's `playbin3` (hlsdemux2 /
dashdemux2) into a fakesink that prints every decoded buffer, VLC 3 transcoding what it
decoded into a file, and Shaka Player in Chromium reporting its own live latency.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from urllib.parse import quote
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.browser import chromium_page

REPOSITORY = Path(__file__).resolve().parents[2]
SHAKA = REPOSITORY / "player" / "node_modules" / "shaka-player" / "dist" / "shaka-player.compiled.js"


@dataclass
class Decoded:
    """Video frames a player decoded: their timestamps in decode order (seconds or ticks)."""

    times: list[float]
    log: str = ""

    @property
    def monotonic(self) -> bool:
        return all(b > a for a, b in zip(self.times, self.times[1:]))


def ffmpeg_read(url: str, seconds: float = 5) -> Decoded:
    """ffprobe decodes `seconds` of the first video stream; the packets' DTS, frame by frame."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-read_intervals", f"%+{seconds}", "-select_streams", "v:0",
         "-show_frames", "-show_entries", "frame=pkt_dts", "-of", "csv=p=0", url],
        capture_output=True, text=True, timeout=seconds + 40,
    )
    fields = (line.split(",")[0] for line in result.stdout.splitlines())  # side data: other lines
    times = [float(field) for field in fields if field.lstrip("-").isdigit()]
    return Decoded(times, result.stderr)


GST_BUFFER = re.compile(r"vsink: last-message = chain .*?pts: (\d+):(\d+):([\d.]+)")


def gstreamer_read(url: str, seconds: float = 8) -> Decoded:
    """`playbin3` plays the URL for `seconds` into a fakesink that reports each decoded frame."""
    process = subprocess.run(
        ["timeout", str(seconds), "gst-launch-1.0", "-v", "playbin3", f"uri={url}",
         "video-sink=fakesink name=vsink silent=false sync=true", "audio-sink=fakesink sync=true"],
        capture_output=True, text=True, timeout=seconds + 20,
    )
    log = process.stdout + process.stderr
    times = [int(h) * 3600 + int(m) * 60 + float(s) for h, m, s in GST_BUFFER.findall(log)]
    return Decoded(times, log[-4000:])


def vlc_read(url: str, seconds: float = 8) -> Decoded:
    """VLC 3 plays the URL for `seconds`, re-encoding what it decoded into a TS file, whose
    frames ffprobe then lists. VLC refuses to run as root: it runs as `nobody` then."""
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o777)
        out = Path(directory) / "vlc.ts"
        command = ["cvlc", "-I", "dummy", "--play-and-exit", f"--run-time={seconds}", "--no-sout-audio", url, "--sout",
                   f"#transcode{{vcodec=mp2v,vb=800}}:std{{access=file,mux=ts,dst={out}}}"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "nobody", "--", *command]
        process = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
        if not out.exists():
            return Decoded([], process.stdout + process.stderr)
        decoded = ffmpeg_read(str(out), seconds=3600)
        return Decoded(decoded.times, (process.stdout + process.stderr)[-4000:])


SHAKA_PAGE = """<!doctype html><html><body>
<video id="video" muted autoplay playsinline></video>
<script src="shaka-player.compiled.js"></script>
<script>
window.shakaResult = {errors: [], loaded: false};
(async () => {
  shaka.polyfill.installAll();
  const video = document.getElementById("video");
  const player = window.shakaPlayer = new shaka.Player();
  await player.attach(video);
  player.configure({streaming: {lowLatencyMode: true}});
  player.addEventListener("error", (e) => window.shakaResult.errors.push(String(e.detail.code)));
  try {
    await player.load(new URLSearchParams(location.search).get("src"));
    window.shakaResult.loaded = true;
  } catch (e) {
    window.shakaResult.errors.push("load " + (e.code || e));
  }
})();
</script></body></html>"""

SHAKA_STATE = """(() => {
  const video = document.getElementById("video"), player = window.shakaPlayer;
  const stats = player ? player.getStats() : {};
  return {...window.shakaResult, t: video.currentTime, paused: video.paused,
          latency: stats.liveLatency, variants: player ? player.getVariantTracks().length : 0,
          live: player ? player.isLive() : null};
})()"""


@dataclass
class ShakaPlayback:
    start: dict
    end: dict
    latencies: list[float] = field(default_factory=list)

    @property
    def played(self) -> float:
        return self.end["t"] - self.start["t"]


def shaka_play(node_url: str, url: str, seconds: float = 8, timeout: float = 30) -> ShakaPlayback:
    """Shaka Player 5 (low-latency mode) in headless Chromium plays `url` for `seconds` once it
    has started; the page is served at the node's own origin (Playwright answers for it)."""
    page_url = f"{node_url}/__shaka__/index.html"
    with chromium_page() as tab:
        tab.route(lambda url: url.startswith(page_url), lambda route: route.fulfill(
            body=SHAKA_PAGE, content_type="text/html"))
        tab.route(f"{node_url}/__shaka__/shaka-player.compiled.js", lambda route: route.fulfill(
            path=str(SHAKA), content_type="text/javascript"))
        tab.goto(f"{page_url}?src={quote(url)}")
        start = _watch(tab, lambda s: s["t"] > 0.5 or s["errors"], timeout)
        latencies = []
        deadline = time.monotonic() + seconds
        state = start
        while time.monotonic() < deadline and not state["errors"]:
            time.sleep(0.5)
            state = tab.evaluate(SHAKA_STATE)
            if state.get("latency") is not None and state["latency"] == state["latency"]:  # not NaN
                latencies.append(state["latency"])
        return ShakaPlayback(start, state, latencies)


def _watch(tab, until, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    state = tab.evaluate(SHAKA_STATE)
    while time.monotonic() < deadline and not until(state):
        time.sleep(0.25)
        state = tab.evaluate(SHAKA_STATE)
    return state
