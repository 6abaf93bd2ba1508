"""Headless Chromium capturing overlay pages: one browser, one page (in its own context) per
overlay, each captured as a PNG with a transparent background about once a second.

Runs in the renderer process (`server/overlays/renderer_process.py`), never on the node's
event loop. Faults never stop the images: a page that fails to load, answers an error, hangs
or is slow keeps its last good image (nothing new is sent) and is loaded again after
RETRY_AFTER, with one log line per fault; a crashed page is opened again; a browser that dies
is launched again and every page with it.

Security, for pages chosen by API users: every request a page makes (redirect hops, frames,
subresources, WebSockets) passes the address rule (`address_rules.check_url`) on its resolved
address (requests are made by Playwright's `route.fetch` without following redirects, since
Chromium follows a redirect without asking the route again; WebRTC is kept off UDP);
downloads are refused, dialogs dismissed, popups closed, service workers blocked (they would
bypass the route), and no page gets file access (only http(s) pages are opened; Chromium
gives them none).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Error,
    Page,
    Playwright,
    Route,
    WebSocketRoute,
    async_playwright,
)

from server.overlays.address_rules import Refused, Refuses, check_url

log = logging.getLogger("headwater.overlays")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--mute-audio",
    "--disable-dev-shm-usage",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]
# Chromium refuses its sandbox as root (a container's usual user): only then is it turned off.
SANDBOX_ARGS = ["--no-sandbox"] if os.geteuid() == 0 else []
CAPTURE_INTERVAL = 1.0  # seconds between two captures of a page
LOAD_TIMEOUT = 10.0  # a page not loaded by then counts as failed (kept: its last image)
CAPTURE_TIMEOUT = 5.0
RETRY_AFTER = 5.0  # a failed page is loaded again after this
RELAUNCH_AFTER = 2.0  # a dead browser is launched again after this
NETWORK_FREE = ("data", "blob", "about")  # schemes a page may use that make no request

OnImage = Callable[[int, bytes], None]


@dataclass(frozen=True)
class OverlaySpec:
    """What to render for one overlay: its page at its size."""

    overlay_id: int
    url: str
    width: int
    height: int


class OverlayBrowser:
    """The node's one browser and its overlay pages; `set`/`drop` change them at any time."""

    def __init__(
        self, on_image: OnImage, refuses: Refuses, *, executable: str = CHROMIUM, interval: float = CAPTURE_INTERVAL
    ) -> None:
        self.on_image = on_image
        self.refuses = refuses
        self.executable = executable
        self.interval = interval
        self.specs: dict[int, OverlaySpec] = {}
        self.pages: dict[int, asyncio.Task[None]] = {}
        self.browser: Browser | None = None
        self.launches = 0

    def set(self, spec: OverlaySpec) -> None:
        if self.specs.get(spec.overlay_id) == spec:
            return
        self.specs[spec.overlay_id] = spec
        self._stop_page(spec.overlay_id)
        if self.browser is not None and self.browser.is_connected():
            self._start_page(spec)

    def drop(self, overlay_id: int) -> None:
        self.specs.pop(overlay_id, None)
        self._stop_page(overlay_id)

    async def run(self) -> None:
        """Keep a browser up with every overlay's page, until cancelled."""
        async with async_playwright() as playwright:
            while True:
                try:
                    await self._browse(playwright)
                except Error as error:
                    log.error("overlay browser failed: %s; launching it again in %.0f s", error, RELAUNCH_AFTER)
                for overlay_id in list(self.pages):
                    self._stop_page(overlay_id)
                self.browser = None
                await asyncio.sleep(RELAUNCH_AFTER)

    async def _browse(self, playwright: Playwright) -> None:
        gone = asyncio.Event()
        self.browser = await playwright.chromium.launch(
            executable_path=self.executable, args=[*CHROMIUM_ARGS, *SANDBOX_ARGS]
        )
        self.launches += 1
        self.browser.on("disconnected", lambda _: gone.set())
        log.info("overlay browser started (launch %d)", self.launches)
        for spec in self.specs.values():
            self._start_page(spec)
        try:
            await gone.wait()
            log.error("overlay browser exited; launching it again in %.0f s", RELAUNCH_AFTER)
        finally:
            if self.browser.is_connected():
                await self.browser.close()

    def _start_page(self, spec: OverlaySpec) -> None:
        assert self.browser is not None
        page = OverlayPage(spec, self.browser, self.on_image, self.refuses, self.interval)
        self.pages[spec.overlay_id] = asyncio.create_task(page.run(), name=f"overlay-{spec.overlay_id}")

    def _stop_page(self, overlay_id: int) -> None:
        task = self.pages.pop(overlay_id, None)
        if task is not None:
            task.cancel()


class OverlayPage:
    """One overlay's page: load, then capture every interval; faults keep the last image."""

    def __init__(
        self, spec: OverlaySpec, browser: Browser, on_image: OnImage, refuses: Refuses, interval: float
    ) -> None:
        self.spec = spec
        self.browser = browser
        self.on_image = on_image
        self.refuses = refuses
        self.interval = interval
        self.last: bytes | None = None
        self.last_fault: str | None = None
        self.refused: set[str] = set()  # hosts already logged as refused

    async def run(self) -> None:
        context: BrowserContext | None = None
        try:
            while self.browser.is_connected():
                context = await self._open_context()
                page = await context.new_page()
                try:
                    await self._show(page)
                except (Error, Refused, PageFault) as fault:
                    self._fault(str(fault).splitlines()[0] if str(fault) else type(fault).__name__)
                await context.close()
                context = None
                await asyncio.sleep(RETRY_AFTER)
        except Error:  # the browser went away under us: OverlayBrowser launches another
            pass
        finally:
            if context is not None:
                await asyncio.shield(_close_quietly(context))

    def _fault(self, reason: str) -> None:
        """One warning per new reason (a page that stays broken is retried quietly)."""
        level = logging.WARNING if reason != self.last_fault else logging.DEBUG
        self.last_fault = reason
        log.log(
            level,
            "overlay %d (%s): %s; keeping its last image, loading again every %.0f s",
            self.spec.overlay_id,
            self.spec.url,
            reason,
            RETRY_AFTER,
        )

    async def _open_context(self) -> BrowserContext:
        context = await self.browser.new_context(
            viewport={"width": self.spec.width, "height": self.spec.height},
            accept_downloads=False,
            service_workers="block",
            java_script_enabled=True,
        )
        await context.route("**/*", self._route)
        await context.route_web_socket("**/*", self._route_web_socket)
        return context

    async def _show(self, page: Page) -> None:
        """Load the page, then capture it until something fails."""
        crashed = asyncio.Event()
        page.on("crash", lambda _: crashed.set())
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.dismiss()))
        page.on("popup", lambda popup: asyncio.ensure_future(popup.close()))
        page.on("download", lambda download: asyncio.ensure_future(download.cancel()))
        await check_url(self.spec.url, self.refuses)
        response = await page.goto(self.spec.url, wait_until="load", timeout=LOAD_TIMEOUT * 1000)
        if response is not None and response.status >= 400:
            raise PageFault(f"the page answered HTTP {response.status}")
        while not crashed.is_set():
            image = await page.screenshot(type="png", omit_background=True, timeout=CAPTURE_TIMEOUT * 1000)
            self.last_fault = None  # working again: the next fault is news
            if image != self.last:
                self.last = image
                self.on_image(self.spec.overlay_id, image)
            await asyncio.sleep(self.interval)
        raise PageFault("the page crashed")

    async def _route(self, route: Route) -> None:
        """Every HTTP request of the page. Chromium follows redirects without asking the route
        again, so the request is made here (`route.fetch`, redirects not followed) and its
        answer handed to the page: a redirect comes back as a new request, checked again."""
        url = route.request.url
        if url.split(":", 1)[0].lower() in NETWORK_FREE:
            await _quietly(route.continue_())
            return
        if not await self._allowed(url):
            await _quietly(route.abort("blockedbyclient"))
            return
        try:
            response = await route.fetch(max_redirects=0, timeout=LOAD_TIMEOUT * 1000)
        except Error as error:
            log.info("overlay %d: %s failed: %s", self.spec.overlay_id, url, str(error).splitlines()[0])
            await _quietly(route.abort("failed"))
            return
        await _quietly(route.fulfill(response=response))

    async def _route_web_socket(self, socket: WebSocketRoute) -> None:
        url = "http" + socket.url[2:] if socket.url.startswith("ws") else socket.url
        if await self._allowed(url):
            socket.connect_to_server()
        else:
            await socket.close(code=1008, reason="refused by the overlay renderer")

    async def _allowed(self, url: str) -> bool:
        try:
            await check_url(url, self.refuses)
            return True
        except Refused as refused:
            host = urlsplit(url).netloc
            if host not in self.refused:
                self.refused.add(host)
                log.warning("overlay %d: refused a request to %s: %s", self.spec.overlay_id, host, refused)
            return False


class PageFault(Exception):
    """A page that cannot give an image now (an error status, a crash)."""


async def _quietly(action: Any) -> None:
    """A route answered after its page went away is not a fault."""
    try:
        await action
    except Error:
        pass


async def _close_quietly(context: BrowserContext) -> None:
    try:
        await context.close()
    except Error:
        pass
