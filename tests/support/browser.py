"""Debian's Chromium driven by Playwright, as the player tests need it (no downloaded browser)."""

from __future__ import annotations

import contextlib
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-gpu",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
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
