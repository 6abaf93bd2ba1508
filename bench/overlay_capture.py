"""What the overlay renderer costs (server/overlays/): CPU and memory of its process tree (the
renderer, Playwright's driver, Chromium) with N clock overlays captured about once a second,
against the same tree with its browser up and no page, in the same run.

Run: python -m bench.overlay_capture [seconds] [--overlays N] [--smoke]. The page is a 600×200
lower third whose clock text changes every second (so every capture is a new image, the worst
case), served on 127.0.0.1 (the renderer runs with --allow-private). CPU is the tree's CPU time
over the window as a share of one core; memory is the tree's PSS (shared pages counted once).
The issue's bound: ≤ 10 % of a core per overlay at one image per second.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import smoke
from bench.proctree import TreeCpu, descendants
from server.overlays.renderer_process import IMAGE_HEADER
from tests.support.overlay_pages import OverlayPages

CLOCK = """<!doctype html><html><body style="margin:0;background:transparent">
<div id="t" style="width:560px;height:160px;margin:20px;border-radius:16px;background:rgba(10,20,60,.7);
 color:#fff;font:bold 96px sans-serif;text-align:center;line-height:160px"></div>
<script>const tick = () => document.getElementById("t").textContent = new Date().toLocaleTimeString();
tick(); setInterval(tick, 1000);</script></body></html>"""
SIZE = (600, 200)
SETTLE = 8.0  # seconds for the browser to start, and for pages to load


def pss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class Renderer:
    """The renderer process, as the node runs it; counts the images it sends back."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.overlays.renderer_process", "--allow-private"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.images = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while header := self.process.stdout.read(IMAGE_HEADER.size):
            _, length = IMAGE_HEADER.unpack(header)
            self.process.stdout.read(length)
            self.images += 1

    def show(self, overlay_id: int, url: str) -> None:
        assert self.process.stdin is not None
        message = {"set": {"overlay_id": overlay_id, "url": url, "width": SIZE[0], "height": SIZE[1]}}
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def measure(self, seconds: float) -> tuple[float, float, float]:
        """Share of a core, PSS in MiB, images per second over `seconds`."""
        tree = TreeCpu([self.process.pid])
        tree.start()
        images = self.images
        started = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        return tree.stop() / elapsed, pss_mib(descendants(self.process.pid)), (self.images - images) / elapsed

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", type=float, nargs="?", default=30.0)
    parser.add_argument("--overlays", type=int, default=3)
    smoke.add_flag(parser)
    args = parser.parse_args()
    seconds, count, settle = (3.0, 1, 5.0) if args.smoke else (args.seconds, args.overlays, SETTLE)
    with OverlayPages() as pages:
        pages.pages["/clock.html"] = CLOCK
        renderer = Renderer()
        try:
            time.sleep(settle)
            idle_cpu, idle_mib, _ = renderer.measure(seconds)
            for overlay_id in range(1, count + 1):
                renderer.show(overlay_id, pages.url(f"/clock.html?{overlay_id}"))
            time.sleep(settle)
            cpu, mib, rate = renderer.measure(seconds)
        finally:
            renderer.close()
    per_overlay = (cpu - idle_cpu) / count
    print(f"renderer tree, browser up, no page (reference): {100 * idle_cpu:.1f} % of a core, {idle_mib:.0f} MiB PSS")
    print(
        f"renderer tree, {count} clock overlays {SIZE[0]}x{SIZE[1]}: {100 * cpu:.1f} % of a core, {mib:.0f} MiB PSS,"
        f" {rate / count:.2f} images/s per overlay"
    )
    print(f"per overlay: {100 * per_overlay:.1f} % of a core, {(mib - idle_mib) / count:.0f} MiB")
    print(f"ratio with overlays / browser alone: {smoke.ratio(cpu, idle_cpu):.2f}")


if __name__ == "__main__":
    main()
