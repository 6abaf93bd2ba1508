"""Debian's Chromium driven by Playwright, as the player tests need it (no downloaded browser)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


@contextlib.contextmanager
def chromium_page():
    """A fresh headless Chromium tab; the browser closes when the block ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def watch(tab, expression: str, until, timeout: float, interval: float = 0.25) -> dict:
    """Evaluates `expression` in the tab every `interval` s until `until(state)` holds or
    `timeout` s pass; the last state. Waits inside Playwright, so the page's events are
    handled meanwhile."""
    deadline = time.monotonic() + timeout
    state = tab.evaluate(expression)
    while time.monotonic() < deadline and not until(state):
        tab.wait_for_timeout(interval * 1000)
        state = tab.evaluate(expression)
    return state
