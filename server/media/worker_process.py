"""One stream worker subprocess as the node sees it: config and commands in, events out, logs relayed.

The node's end of the contract (`transcode/contract.py`): the worker's command line carries
labels only (`--stream`, `--out-dir`); its `WorkerConfig` is the first record on its stdin, so
no pull URL, passphrase or WHIP offer shows in `ps`. Each stdout line is decoded into a typed
event and handed to `on_event` (`server/media/worker_events.py`).

Source bytes fed during one turn of the event loop go to the worker in one pipe write. Every
write wakes the worker, and each wake costs it more than the few packets it then handles
(measured: a passthrough worker fed in 32 KB blocks uses ~25 % less CPU than one fed tag by
tag); the RTMP ingest reads in batches (`ingest_read_interval`), so one turn carries several
frames, audio and video together.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import stat
import sys
from collections.abc import Callable

from server.log_format import relay_worker_line
from transcode.contract import Command, ContractError, Event, WorkerConfig, config_record, decode_event, encode_command

log = logging.getLogger("headwater.worker")

MAX_PENDING_BYTES = 32 * 1024 * 1024  # a worker this far behind is stuck: restart it
NEVER_STARTED = -1  # `wait()`'s code for a worker cancelled before its process was spawned
# Defaults of a worker's environment (the node's own environment overrides them):
# - numpy's OpenBLAS starts a thread per core at import, and they spin for a while: a fifth of
#   a worker's start-up CPU (0.71-0.78 → 0.56-0.61 s here). A worker does no linear algebra.
# - glibc gives each thread its own malloc arena (up to 8 per core). A transcoding worker's
#   decoder, encoder and rendition threads each kept a fragmented one: in the 2-hour soak its
#   RSS rose ~2.7 MB a minute for 20 minutes (+48 MB, +42 %) before it levelled. Two arenas
#   keep it near its start at the same CPU (docs/architecture.md, the worker contract).
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
EVENT_LINE_LIMIT = 8 * 1024 * 1024
INPUT_BUFFER_BYTES = 1 << 20


def enlarge_input(transport: asyncio.WriteTransport) -> None:
    """Let the worker's stdin hold INPUT_BUFFER_BYTES, so a worker busy for a moment (a
    segment's files, a garbage collection) does not fill it: the node would then buffer and
    wake on every drain. stdin is a pipe under asyncio's own loop (64 KiB by default) and a
    Unix socket under uvloop (about 200 KiB of send buffer): 85 ms and 270 ms of a 6 Mbit/s
    stream."""
    handle = transport.get_extra_info("pipe") or transport.get_extra_info("socket")
    try:
        fd = handle.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, INPUT_BUFFER_BYTES)
        else:
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, INPUT_BUFFER_BYTES)
    except (AttributeError, OSError, ValueError) as error:
        log.debug("worker input buffer left as it is: %s", error)


class WorkerProcess:
    MODULE = "transcode.worker"  # what `python -m` runs (a test runs a worker with its own hooks)

    def __init__(self, stream_id: int, on_event: Callable[[Event], None], module: str | None = None) -> None:
        self.stream_id = stream_id
        self.on_event = on_event
        self.module = module or self.MODULE
        self.process: asyncio.subprocess.Process | None = None
        self.tasks: list[asyncio.Task] = []
        self.pending: list[bytes] | None = []  # bytes fed before the process exists
        self.pending_bytes = 0
        self.queued: list[bytes] = []  # bytes fed during this turn of the event loop
        self.finishing = False
        self.cancelled = False  # killed before it was spawned: `start` spawns nothing

    async def start(self, config: WorkerConfig) -> None:
        """Spawn the worker with its WorkerConfig, known only now: where it resumes is where
        the worker before it stopped (server/media/succession.py). Bytes fed until now go first.
        A worker cancelled meanwhile is not spawned (`wait` then returns NEVER_STARTED)."""
        if self.cancelled:
            return
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            *config.labels(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=EVENT_LINE_LIMIT,
            env={**WORKER_ENVIRONMENT, **os.environ},
        )
        self.tasks = [
            asyncio.create_task(self._read_events()),
            asyncio.create_task(self._relay_logs()),
        ]
        enlarge_input(self.process.stdin.transport)
        pending, self.pending = self.pending, None
        self.process.stdin.write(config_record(config) + b"".join(pending))
        if self.finishing:
            self.process.stdin.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def send(self, *commands: Command) -> bool:
        """Queue commands for this turn's write (see `feed`)."""
        return self.feed(b"".join(encode_command(command) for command in commands))

    def feed(self, data: bytes) -> bool:
        """Queue encoded commands for this turn's write; False when the worker is gone or
        hopelessly behind."""
        if self.pending is not None:
            return self._hold(data)
        if not data:
            return self.running
        stdin = self.process.stdin if self.process else None
        if stdin is None or stdin.is_closing() or not self.running:
            return False
        if stdin.transport.get_write_buffer_size() > MAX_PENDING_BYTES:
            log.error("stream %s worker is %d MiB behind; restarting it", self.stream_id, MAX_PENDING_BYTES >> 20)
            self.process.kill()
            return False
        if not self.queued:
            asyncio.get_running_loop().call_soon(self._write_queued)
        self.queued.append(data)
        return True

    def _hold(self, data: bytes) -> bool:
        """Keep bytes fed while the worker waits its turn (the stream's previous worker is
        finishing, up to `succession.FINISH_TIMEOUT`), up to MAX_PENDING_BYTES: past that the
        worker is cancelled, and the caller starts another at a later keyframe."""
        if self.cancelled:
            return False
        self.pending_bytes += len(data)
        if self.pending_bytes > MAX_PENDING_BYTES:
            log.error(
                "stream %s: over %d MiB arrived while its worker waited to start; dropping them",
                self.stream_id,
                MAX_PENDING_BYTES >> 20,
            )
            self.kill()
            return False
        self.pending.append(data)
        return True

    def _write_queued(self) -> None:
        queued, self.queued = self.queued, []
        stdin = self.process.stdin if self.process else None
        if queued and stdin is not None and not stdin.is_closing() and self.running:
            stdin.write(b"".join(queued))

    def finish(self) -> None:
        """End of source: the worker finalizes its playlists and exits."""
        self.finishing = True
        if self.process and self.process.stdin and not self.process.stdin.is_closing():
            self._write_queued()
            self.process.stdin.close()

    async def wait(self, timeout: float | None = 15.0) -> int:
        """Exit code; kills the worker if it does not end within `timeout` (None: no limit)."""
        if self.process is None:
            assert self.cancelled, "wait() before start()"
            return NEVER_STARTED
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            log.warning("stream %s worker did not stop in %.0fs; killing it", self.stream_id, timeout)
            self.process.kill()
            code = await self.process.wait()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return code

    def kill(self) -> None:
        self.queued = []
        if self.process is None:  # still waiting its turn: it will never be spawned
            self.cancelled = True
            self.pending, self.pending_bytes = [], 0
        elif self.running:
            self.process.kill()

    async def _read_events(self) -> None:
        stdout = self.process.stdout
        while line := await stdout.readline():
            try:
                event = decode_event(line)
            except ContractError as error:
                log.warning("stream %s worker wrote a line that is no event (%s): %.200r", self.stream_id, error, line)
                continue
            try:
                self.on_event(event)
            except Exception:
                log.exception("stream %s: handling worker event %s failed", self.stream_id, event.kind)

    async def _relay_logs(self) -> None:
        stderr = self.process.stderr
        while line := await stderr.readline():
            relay_worker_line(self.stream_id, line.decode(errors="replace").rstrip())
