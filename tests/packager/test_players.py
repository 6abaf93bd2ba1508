"""hls.js and dash.js in Chromium play what the packager wrote (MSE is the strictest reader):
CMAF through hls.js and dash.js, and the legacy MPEG-TS playlist through hls.js's transmuxer.

Needs the players' JS files (hls.min.js, dash.all.min.js): taken from
HEADWATER_PLAYER_JS_DIR, else from server/delivery/static/vendor/ (fetched at build time);
skipped when neither has them. Checked by hand with hls.js 1.7.4 and dash.js 5.2.1.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
from pathlib import Path

import av
import pytest
from packager_testkit import package

from packager.ts_output import TsRendition
from tests.support.browser import chromium_available, chromium_page

REPOSITORY = Path(__file__).resolve().parents[2]
PLAYER_FILES = ("hls.min.js", "dash.all.min.js")

PAGES = {
    "hls.html": """<video id=v muted playsinline></video><script src="hls.min.js"></script><script>
window.errors = []; const v = document.getElementById('v'); const h = new Hls({lowLatencyMode: true});
h.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) window.errors.push(d.details); });
h.loadSource('live/master.m3u8'); h.attachMedia(v); v.play();</script>""",
    "dash.html": """<video id=v muted playsinline></video><script src="dash.all.min.js"></script><script>
window.errors = []; const v = document.getElementById('v'); const p = dashjs.MediaPlayer().create();
p.on(dashjs.MediaPlayer.events.ERROR, (e) => window.errors.push(JSON.stringify(e.error || e)));
p.initialize(v, 'live/index.mpd', true);</script>""",
}
PAGES["hls_ts.html"] = PAGES["hls.html"].replace("live/master.m3u8", "live-ts/origin/mpegts.m3u8")


def _player_dir() -> Path | None:
    for candidate in (os.environ.get("HEADWATER_PLAYER_JS_DIR"), REPOSITORY / "server/delivery/static/vendor"):
        if candidate and all((Path(candidate) / name).exists() for name in PLAYER_FILES):
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def site(clip_1s_gop, tmp_path_factory):
    players = _player_dir()
    if players is None or not chromium_available():
        pytest.skip("hls.min.js / dash.all.min.js or chromium not available")
    root = tmp_path_factory.mktemp("site")
    for name in PLAYER_FILES:
        shutil.copy(players / name, root / name)
    for name, text in PAGES.items():
        (root / name).write_text(text)
    package(clip_1s_gop, root / "live")
    package_ts(clip_1s_gop, root / "live-ts")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def package_ts(clip: Path, out_dir: Path) -> None:
    """The clip as TS segments starting at every second keyframe (2 s with its 1 s GOPs)."""
    rendition = TsRendition(out_dir, "origin", lambda event: None)
    with av.open(str(clip)) as container:
        indexes = {s.index: rendition.add_stream(s) for s in container.streams}
        keyframes = 0
        for packet in container.demux():
            if packet.dts is None:
                continue
            start = packet.stream.type == "video" and packet.is_keyframe
            keyframes += start
            rendition.mux(indexes[packet.stream_index], packet, segment_start=start and keyframes % 2 == 1)
    rendition.close(endlist=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("page", ["hls.html", "dash.html", "hls_ts.html"])
def test_player_plays_through(site, page):
    with chromium_page() as tab:
        tab.goto(f"{site}/{page}")
        deadline = time.monotonic() + 30
        state = {}
        while time.monotonic() < deadline:
            state = tab.evaluate(
                "({t: document.getElementById('v').currentTime, ended: document.getElementById('v').ended,"
                " width: document.getElementById('v').videoWidth, errors: window.errors})"
            )
            if state["errors"] or state["ended"] or state["t"] > 4.5:
                break
            time.sleep(0.25)
    assert not state["errors"], state
    assert state["width"] == 320
    assert state["ended"] or state["t"] > 4.5, state
