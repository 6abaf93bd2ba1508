"""The overlay browser against pages served by the test on 127.0.0.1: a box captured with its
colour and real transparency around it, faults (404, a page that never loads) with a log line
and no image, the address rule on every request including redirects, a crashed browser
launched again."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
from pathlib import Path

import pytest

from server.overlays import pages
from server.overlays.address_rules import address_rule
from server.overlays.pages import OverlayBrowser, OverlaySpec
from tests.support.browser import chromium_available
from tests.support.overlay_pages import BOX, OverlayPages, rgba

pytestmark = pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium")


class Images:
    def __init__(self) -> None:
        self.got: dict[int, list[bytes]] = {}
        self.arrived = asyncio.Event()

    def __call__(self, overlay_id: int, png: bytes) -> None:
        self.got.setdefault(overlay_id, []).append(png)
        self.arrived.set()

    async def first(self, overlay_id: int, timeout: float = 30.0) -> bytes:
        async def wait() -> bytes:
            while overlay_id not in self.got:
                self.arrived.clear()
                await self.arrived.wait()
            return self.got[overlay_id][0]

        return await asyncio.wait_for(wait(), timeout)


def browser_pid() -> int:
    """Our Chromium's browser process (the one without `--type=`), found under this process."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    todo, found = [os.getpid()], []
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if command[0].endswith(b"chromium") and not any(arg.startswith(b"--type=") for arg in command):
                found.append(child)
    assert len(found) == 1, found
    return found[0]


async def running(browser: OverlayBrowser) -> asyncio.Task[None]:
    return asyncio.create_task(browser.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def test_a_box_is_captured_with_its_colour_and_transparency_around_it():
    with OverlayPages() as server:
        server.pages["/box.html"] = BOX
        images = Images()
        browser = OverlayBrowser(images, address_rule(allow_private=True), interval=0.2)
        task = await running(browser)
        try:
            browser.set(OverlaySpec(1, server.url("/box.html"), 120, 60))
            image = rgba(await images.first(1))
        finally:
            await stop(task)
    assert image.shape == (60, 120, 4)
    assert tuple(image[25, 50]) == (0, 200, 0, 255)
    assert image[0, 0, 3] == 0 and image[50, 100, 3] == 0  # transparent around the box


async def test_a_new_image_follows_a_change_of_the_page_and_none_without_one():
    with OverlayPages() as server:
        server.pages["/live.html"] = """<!doctype html><html><body style="margin:0;background:transparent">
        <div id="b" style="width:40px;height:40px;background:red"></div>
        <script>setTimeout(() => document.getElementById('b').style.background = 'blue', 1500)</script>
        </body></html>"""
        images = Images()
        browser = OverlayBrowser(images, address_rule(allow_private=True), interval=0.2)
        task = await running(browser)
        try:
            browser.set(OverlaySpec(1, server.url("/live.html"), 40, 40))
            await images.first(1)
            await asyncio.sleep(3.0)
        finally:
            await stop(task)
    colours = [tuple(rgba(png)[20, 20][:3]) for png in images.got[1]]
    assert colours == [(255, 0, 0), (0, 0, 255)]  # unchanged captures are not sent again


@pytest.mark.parametrize(("path", "logged"), [("/missing", "HTTP 404"), ("/hang", "Timeout")])
async def test_a_failing_page_gives_no_image_and_a_log_line(path, logged, caplog, monkeypatch):
    monkeypatch.setattr(pages, "LOAD_TIMEOUT", 1.5)
    monkeypatch.setattr(pages, "RETRY_AFTER", 0.5)
    caplog.set_level(logging.WARNING, logger="headwater.overlays")
    with OverlayPages() as server:
        server.pages["/box.html"] = BOX
        images = Images()
        browser = OverlayBrowser(images, address_rule(allow_private=True), interval=0.2)
        task = await running(browser)
        try:
            browser.set(OverlaySpec(1, server.url(path), 100, 50))
            browser.set(OverlaySpec(2, server.url("/box.html"), 100, 50))  # the others go on
            await images.first(2)
            await asyncio.sleep(3.0)
        finally:
            await stop(task)
    assert 1 not in images.got
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.message.startswith("overlay 1 (")]
    assert warnings and logged in warnings[0].message, [r.message for r in warnings]
    assert len({r.message for r in warnings}) == len(warnings)  # the same fault again is not logged again
    assert server.requests.count(path) >= 2  # loaded again after RETRY_AFTER, quietly


async def test_private_addresses_are_refused_by_default(caplog):
    caplog.set_level(logging.WARNING, logger="headwater.overlays")
    with OverlayPages() as server:
        server.pages["/box.html"] = BOX
        images = Images()
        browser = OverlayBrowser(images, address_rule(allow_private=False), interval=0.2)
        task = await running(browser)
        try:
            browser.set(OverlaySpec(1, server.url("/box.html"), 100, 50))
            await asyncio.sleep(4.0)
        finally:
            await stop(task)
    assert not images.got and not server.requests
    assert any("127.0.0.1 resolves to 127.0.0.1, a non-public address" in r.message for r in caplog.records)


async def test_every_request_and_redirect_is_checked_on_its_address(caplog):
    """127.0.0.2 stands for a forbidden network: the page on 127.0.0.1 loads, its image and
    the redirect that leads to 127.0.0.2 are refused before Chromium connects."""
    caplog.set_level(logging.WARNING, logger="headwater.overlays")
    forbidden = ipaddress.ip_address("127.0.0.2")
    with OverlayPages() as server, OverlayPages("127.0.0.2") as other:
        other.pages["/secret.html"] = BOX
        target = other.url("/secret.html")
        server.pages["/page.html"] = f"""<!doctype html><html><body style="margin:0">
            <img src="{other.url("/pixel.png")}"><iframe src="{server.url("/redirect?to=" + target)}"></iframe>
            </body></html>"""
        images = Images()
        browser = OverlayBrowser(images, lambda address: address == forbidden, interval=0.2)
        task = await running(browser)
        try:
            browser.set(OverlaySpec(1, server.url("/page.html"), 100, 50))
            await images.first(1)
            await asyncio.sleep(1.0)
        finally:
            await stop(task)
    assert "/redirect" in server.requests  # the first hop is allowed
    assert other.requests == []  # neither the image nor the redirect's target reached 127.0.0.2
    assert any("refused a request to 127.0.0.2" in r.message for r in caplog.records)


async def test_a_crashed_browser_is_launched_again(caplog):
    caplog.set_level(logging.INFO, logger="headwater.overlays")
    with OverlayPages() as server:
        server.pages["/box.html"] = BOX
        images = Images()
        browser = OverlayBrowser(images, address_rule(allow_private=True), interval=0.2)
        task = await running(browser)
        try:
            browser.set(OverlaySpec(1, server.url("/box.html"), 100, 50))
            await images.first(1)
            os.kill(browser_pid(), signal.SIGKILL)
            images.got.clear()
            await images.first(1, timeout=60)  # the same page, from a new browser
        finally:
            await stop(task)
    assert browser.launches == 2
    assert any("overlay browser exited" in r.message for r in caplog.records)
