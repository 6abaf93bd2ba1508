"""What the node tells a live stream's worker about its overlays: a new image with its
placement, a move without an image, a removal, and everything at once for a new worker."""

from __future__ import annotations

import base64

from server.overlays.live import LiveOverlays, Placed
from server.overlays.pages import OverlaySpec
from transcode.contract import KeepOverlays, SetOverlay


class FakeRenderer:
    def __init__(self) -> None:
        self.specs: dict[int, OverlaySpec] = {}

    def set(self, spec: OverlaySpec) -> None:
        self.specs[spec.overlay_id] = spec

    def drop(self, overlay_id: int) -> None:
        self.specs.pop(overlay_id, None)


def live_overlays() -> tuple[LiveOverlays, list[tuple[int, list]]]:
    sent: list[tuple[int, list]] = []
    overlays = LiveOverlays(
        None,
        lambda stream_id, commands: sent.append((stream_id, commands)),  # type: ignore[arg-type]
        lambda stream_id: True,
    )
    overlays.renderer = FakeRenderer()  # type: ignore[assignment]
    return overlays, sent


def placed(overlay_id: int, x: int = 0, url: str = "http://example.com/a") -> Placed:
    return Placed(OverlaySpec(overlay_id, url, 200, 100), x, 10, False)


def test_images_moves_and_removals_reach_the_worker():
    overlays, sent = live_overlays()
    overlays._apply(7, {1: placed(1)})
    assert overlays.renderer.specs == {1: placed(1).spec}
    assert sent.pop() == (7, [placed(1).command(None), KeepOverlays(overlay_ids=[1])])
    overlays._image(1, b"png")
    assert sent.pop() == (
        7,
        [SetOverlay(overlay_id=1, x=0, y=10, width=200, height=100, png=base64.b64encode(b"png").decode())],
    )
    overlays._apply(7, {1: placed(1, x=50)})  # a move: no image, the worker keeps its own
    assert sent.pop() == (7, [placed(1, x=50).command(None), KeepOverlays(overlay_ids=[1])])
    overlays._apply(7, {1: placed(1, x=50)})  # nothing changed: nothing sent
    assert sent == []
    assert overlays.commands(7) == [placed(1, x=50).command(b"png"), KeepOverlays(overlay_ids=[1])]
    overlays._apply(7, {})
    assert sent.pop() == (7, [KeepOverlays(overlay_ids=[])]) and overlays.renderer.specs == {}
    overlays._image(1, b"late")  # a capture of a removed overlay goes nowhere
    assert sent == [] and overlays.commands(7) == []  # a new worker is told nothing


def test_a_new_page_forgets_the_old_image():
    overlays, _ = live_overlays()
    overlays._apply(7, {1: placed(1)})
    overlays._image(1, b"old page")
    overlays._apply(7, {1: placed(1, url="http://example.com/b")})
    assert overlays.commands(7)[0].png == ""
