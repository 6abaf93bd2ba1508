"""The node's handle on its overlay renderer process (`server/overlays/renderer_process.py`).

The process is started when the first overlay is wanted (a node without overlays spends no
browser: ≈ 270 MiB) and stopped IDLE_STOP after the last one is dropped, told every overlay to
render and every one to drop, and its images are
handed to `on_image(overlay_id, png)` as they come. A renderer that exits is started again
after RESTART_AFTER with every overlay still wanted (the browser inside it is relaunched by
the process itself). Reading its pipe costs the node's loop a read per image; the browser's
work happens elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict

from server.overlays.pages import OverlaySpec
from server.overlays.renderer_process import IMAGE_HEADER

log = logging.getLogger("headwater.overlays")

RESTART_AFTER = 2.0
IDLE_STOP = 30.0  # seconds without any overlay before the renderer (and its browser) stops
MODULE = "server.overlays.renderer_process"


class OverlayRenderer:
    def __init__(self, on_image: Callable[[int, bytes], None], *, allow_private: bool = False) -> None:
        self.on_image = on_image
        self.allow_private = allow_private
        self.specs: dict[int, OverlaySpec] = {}
        self.process: asyncio.subprocess.Process | None = None
        self.task: asyncio.Task[None] | None = None
        self.idle: asyncio.TimerHandle | None = None
        self.stopping: asyncio.Task[None] | None = None  # an idle stop under way
        self.starts = 0

    def set(self, spec: OverlaySpec) -> None:
        """Render `spec` (a new overlay, or a new URL or size of one)."""
        if self.specs.get(spec.overlay_id) == spec:
            return
        self.specs[spec.overlay_id] = spec
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        self._tell({"set": asdict(spec)})
        if self.task is None:
            self.task = asyncio.create_task(self._keep_running(), name="overlay-renderer")

    def drop(self, overlay_id: int) -> None:
        if self.specs.pop(overlay_id, None) is not None:
            self._tell({"drop": overlay_id})
            if not self.specs and self.task is not None:
                self.idle = asyncio.get_running_loop().call_later(IDLE_STOP, self._stop_idle)

    def _stop_idle(self) -> None:
        self.idle = None
        if not self.specs:
            log.info("no overlay to render for %.0f s; stopping the renderer", IDLE_STOP)
            self.stopping = asyncio.get_running_loop().create_task(self.close())  # held: weak refs otherwise

    async def close(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        task, self.task = self.task, None  # a `set` from now on starts another
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _tell(self, message: dict[str, object]) -> None:
        if self.process is not None and self.process.stdin is not None and self.process.returncode is None:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")

    async def _keep_running(self) -> None:
        while True:
            process = None
            try:
                process = await self._spawn()
                code = await self._read(process)
                log.error("overlay renderer exited with %s; starting it again in %.0f s", code, RESTART_AFTER)
            except asyncio.CancelledError:
                if process is not None:
                    await self._stop(process)
                raise
            except OSError as error:
                log.error("overlay renderer did not start: %s", error)
            await asyncio.sleep(RESTART_AFTER)

    async def _spawn(self) -> asyncio.subprocess.Process:
        args = ["--allow-private"] if self.allow_private else []
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", MODULE, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self.starts += 1
        for spec in self.specs.values():
            self._tell({"set": asdict(spec)})
        return self.process

    async def _read(self, process: asyncio.subprocess.Process) -> int:
        assert process.stdout is not None
        try:
            while True:
                header = await process.stdout.readexactly(IMAGE_HEADER.size)
                overlay_id, length = IMAGE_HEADER.unpack(header)
                png = await process.stdout.readexactly(length)
                if overlay_id in self.specs:
                    self.on_image(overlay_id, png)
        except asyncio.IncompleteReadError:
            pass
        return await process.wait()

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        if self.process is process:
            self.process = None
        if process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await process.wait()
