"""The overlay renderer process: `python -m server.overlays.renderer_process [--allow-private]`.

The node starts one (`server/overlays/renderer.OverlayRenderer`) so that Chromium, Playwright's
protocol traffic and the PNG bytes never load the node's event loop, and a renderer that
crashes takes nothing else with it.

stdin: one JSON object per line, `{"set": {"overlay_id", "url", "width", "height"}}` or
`{"drop": overlay_id}` (URLs never go on the command line). EOF: exit 0.
stdout: one record per new image, `overlay id (4 bytes) + length (4 bytes), big-endian` + PNG.
stderr: the log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import struct
import sys

from server.overlays.address_rules import address_rule
from server.overlays.pages import OverlayBrowser, OverlaySpec

IMAGE_HEADER = struct.Struct(">II")

log = logging.getLogger("headwater.overlays")


def write_image(overlay_id: int, png: bytes) -> None:
    sys.stdout.buffer.write(IMAGE_HEADER.pack(overlay_id, len(png)) + png)
    sys.stdout.buffer.flush()


def apply(browser: OverlayBrowser, line: bytes) -> None:
    try:
        message = json.loads(line)
        if "set" in message:
            browser.set(OverlaySpec(**message["set"]))
        else:
            browser.drop(int(message["drop"]))
    except (ValueError, TypeError, KeyError) as error:
        log.error("overlay renderer: unreadable instruction %r: %s", line[:200], error)


async def serve(allow_private: bool) -> None:
    browser = OverlayBrowser(write_image, address_rule(allow_private))
    running = asyncio.create_task(browser.run())
    reader = asyncio.StreamReader(limit=1 << 20)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        apply(browser, line)
    running.cancel()
    try:
        await running
    except asyncio.CancelledError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description="Headwater's overlay renderer (started by the node)")
    parser.add_argument("--allow-private", action="store_true", help="let pages reach non-public addresses")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.allow_private))


if __name__ == "__main__":
    main()
