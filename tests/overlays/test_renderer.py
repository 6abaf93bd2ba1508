"""The node's renderer process: started with the first overlay, images back over its pipe,
started again (with every overlay still wanted) when it dies."""

from __future__ import annotations

import asyncio

import pytest

from server.overlays import renderer as renderer_module
from server.overlays.pages import OverlaySpec
from server.overlays.renderer import OverlayRenderer
from tests.support.browser import chromium_available
from tests.support.overlay_pages import BOX, OverlayPages, rgba

pytestmark = pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium")


async def next_image(images: asyncio.Queue[tuple[int, bytes]], timeout: float = 60.0) -> tuple[int, bytes]:
    return await asyncio.wait_for(images.get(), timeout)


async def test_images_come_back_and_a_dead_renderer_is_started_again(monkeypatch):
    monkeypatch.setattr(renderer_module, "RESTART_AFTER", 0.2)
    images: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    with OverlayPages() as server:
        server.pages["/box.html"] = BOX
        renderer = OverlayRenderer(lambda key, png: images.put_nowait((key, png)), allow_private=True)
        assert renderer.process is None  # nothing started without an overlay
        try:
            renderer.set(OverlaySpec(7, server.url("/box.html"), 120, 60))
            key, png = await next_image(images)
            assert key == 7 and tuple(rgba(png)[25, 50]) == (0, 200, 0, 255)
            assert renderer.process is not None
            renderer.process.kill()
            key, png = await next_image(images)  # the same overlay, from a new process
            assert key == 7 and renderer.starts == 2
            renderer.drop(7)
            renderer.set(OverlaySpec(8, server.url("/box.html"), 60, 60))
            key, _ = await next_image(images)
            assert key == 8
        finally:
            await renderer.close()
    assert renderer.process is None


async def test_without_the_setting_the_renderer_refuses_the_local_page():
    images: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    with OverlayPages() as server:
        server.pages["/box.html"] = BOX
        renderer = OverlayRenderer(lambda key, png: images.put_nowait((key, png)))
        try:
            renderer.set(OverlaySpec(1, server.url("/box.html"), 120, 60))
            with pytest.raises(asyncio.TimeoutError):
                await next_image(images, timeout=6.0)
        finally:
            await renderer.close()
    assert server.requests == []


async def test_the_renderer_stops_once_no_overlay_is_left_and_starts_again(monkeypatch):
    monkeypatch.setattr(renderer_module, "IDLE_STOP", 0.5)
    images: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    with OverlayPages() as server:
        server.pages["/box.html"] = BOX
        renderer = OverlayRenderer(lambda key, png: images.put_nowait((key, png)), allow_private=True)
        try:
            renderer.set(OverlaySpec(1, server.url("/box.html"), 120, 60))
            await next_image(images)
            process = renderer.process
            assert process is not None
            renderer.drop(1)
            await asyncio.wait_for(process.wait(), 30)
            for _ in range(200):  # the close finishing
                if renderer.process is None:
                    break
                await asyncio.sleep(0.05)
            assert renderer.task is None and renderer.process is None
            renderer.set(OverlaySpec(2, server.url("/box.html"), 120, 60))
            key, _ = await next_image(images)
            assert key == 2 and renderer.starts == 2
        finally:
            await renderer.close()
