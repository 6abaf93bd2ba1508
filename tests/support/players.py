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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.support.browser import chromium_page, watch

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
        [
            "ffprobe",
            "-v",
            "error",
            "-read_intervals",
            f"%+{seconds}",
            "-select_streams",
            "v:0",
            "-show_frames",
            "-show_entries",
            "frame=pkt_dts",
            "-of",
            "csv=p=0",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 40,
    )
    fields = (line.split(",")[0] for line in result.stdout.splitlines())  # side data: other lines
    times = [float(field) for field in fields if field.lstrip("-").isdigit()]
    return Decoded(times, result.stderr)


GST_BUFFER = re.compile(r"vsink: last-message = chain .*?pts: (\d+):(\d+):([\d.]+)")


def gstreamer_read(url: str, seconds: float = 8) -> Decoded:
    """`playbin3` plays the URL for `seconds` into a fakesink that reports each decoded frame."""
    process = subprocess.run(
        [
            "timeout",
            str(seconds),
            "gst-launch-1.0",
            "-v",
            "playbin3",
            f"uri={url}",
            "video-sink=fakesink name=vsink silent=false sync=true",
            "audio-sink=fakesink sync=true",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 20,
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
        command = [
            "cvlc",
            "-I",
            "dummy",
            "--play-and-exit",
            f"--run-time={seconds}",
            "--no-sout-audio",
            url,
            "--sout",
            f"#transcode{{vcodec=mp2v,vb=800}}:std{{access=file,mux=ts,dst={out}}}",
        ]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "nobody", "--", *command]
        process = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
        if not out.exists():
            return Decoded([], process.stdout + process.stderr)
        decoded = ffmpeg_read(str(out), seconds=3600)
        return Decoded(decoded.times, (process.stdout + process.stderr)[-4000:])


VENDOR = REPOSITORY / "server" / "delivery" / "static" / "vendor"

# Each engine's page script: load `src` into the video element, push errors to
# `window.result.errors`, and define `window.reportLatency()` (the engine's own figure, s).
ENGINES = {
    "shaka": (
        SHAKA,
        """
      shaka.polyfill.installAll();
      const player = window.engine = new shaka.Player();
      await player.attach(video);
      player.configure({streaming: {lowLatencyMode: true}});
      player.addEventListener("error", (e) => result.errors.push("shaka " + e.detail.code));
      window.reportLatency = () => player.getStats().liveLatency;
      window.variantCount = () => player.getVariantTracks().length;
      window.isLive = () => player.isLive();
      await player.load(src);""",
    ),
    "hls.js": (
        VENDOR / "hls.min.js",
        """
      const hls = window.engine = new Hls({lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.1});  // as player.js
      hls.on(Hls.Events.ERROR, (event, data) => { if (data.fatal) result.errors.push("hls.js " + data.details); });
      window.reportLatency = () => hls.latency;
      window.variantCount = () => hls.levels.length;
      window.isLive = () => Boolean(hls.levels[hls.currentLevel]?.details?.live);
      hls.loadSource(src);
      hls.attachMedia(video);""",
    ),
    "dash.js": (
        VENDOR / "dash.all.min.js",
        """
      const player = window.engine = dashjs.MediaPlayer().create();
      player.on(dashjs.MediaPlayer.events.ERROR, (e) => result.errors.push("dash.js " + JSON.stringify(e.error || e)));
      window.reportLatency = () => player.getCurrentLiveLatency();
      window.variantCount = () => player.getRepresentationsByType("video").length;
      window.isLive = () => player.isDynamic();
      player.initialize(video, src, true);""",
    ),
}

PAGE = """<!doctype html><html><body>
<video id="video" muted autoplay playsinline></video>
<script src="engine.js"></script>
<script>
const result = window.result = {errors: []};
const video = document.getElementById("video");
const src = new URLSearchParams(location.search).get("src");
(async () => {
  try {
    %s
  } catch (e) {
    result.errors.push("load " + (e.code || e));
  }
})();
</script></body></html>"""

STATE = """(() => {
  const video = document.getElementById("video"), ask = (f) => { try { return f(); } catch (e) { return null; } };
  return {errors: window.result.errors, t: video.currentTime, paused: video.paused,
          latency: window.reportLatency ? ask(window.reportLatency) : null,
          variants: window.variantCount ? ask(window.variantCount) : 0,
          live: window.isLive ? ask(window.isLive) : null};
})()"""


@dataclass
class Playback:
    start: dict  # the state once playback started (or failed)
    end: dict
    latencies: list[float] = field(default_factory=list)  # the engine's own figure, every 0.5 s

    @property
    def played(self) -> float:
        return self.end["t"] - self.start["t"]


def browser_play(engine: str, url: str, seconds: float = 8, timeout: float = 30) -> Playback:
    """`engine` ("shaka", "hls.js" or "dash.js", in low-latency mode) plays `url` in headless
    Chromium for `seconds` once it has started. Its page is served at the URL's own origin
    (Playwright answers for it), so no request is cross-origin."""
    script, setup = ENGINES[engine]
    origin = "/".join(url.split("/", 3)[:3])
    page_url = f"{origin}/__player__/index.html"
    with chromium_page() as tab:
        tab.route(
            lambda address: address.startswith(page_url),
            lambda route: route.fulfill(body=PAGE % setup, content_type="text/html"),
        )
        tab.route(
            f"{origin}/__player__/engine.js",
            lambda route: route.fulfill(path=str(script), content_type="text/javascript"),
        )
        tab.goto(f"{page_url}?src={quote(url)}", wait_until="load")
        # Routed requests wait for this process to look at them; the stream's must not.
        tab.unroute_all()
        start = watch(tab, STATE, lambda s: s["t"] > 0.5 or s["errors"], timeout)
        latencies = []
        deadline = time.monotonic() + seconds
        state = start
        while time.monotonic() < deadline and not state["errors"]:
            tab.wait_for_timeout(500)
            state = tab.evaluate(STATE)
            if isinstance(state.get("latency"), (int, float)) and state["latency"] == state["latency"]:
                latencies.append(state["latency"])  # (not NaN)
        return Playback(start, state, latencies)
