"""The worker's stdin after its config: the inputs of a pushed stream, and the node's commands.

The records are the contract's (`transcode/contract.py`, both ends import it):

- `S` (`StartInput`) starts a new input; the payload is its container format (`flv` or
  `mpegts`). The node sends one first, and one at every switch between publishers (main ↔
  backup), so a worker keeps its packagers across a switch and marks a discontinuity instead
  of starting the playlists over.
- `D` (`InputData`) carries source bytes of the current input.
- `M` carries any other command, handed to `on_command` where it falls between the inputs.

EOF on stdin ends the stream. Each input is demuxed by `ingest/pipe.py`.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable

from transcode.contract import (
    DATA_RECORD,
    FORMATS,
    MESSAGE_RECORD,
    RECORD_HEADER,
    START_RECORD,
    Command,
    ContractError,
    decode_message,
)

log = logging.getLogger("headwater.worker")

READ_SIZE = 1 << 18  # a whole batch of the node's (0.25 s of 6 Mbit/s: ~190 KB) in one read


class PipeInput:
    """stdin split into inputs at `S` records; `next_input()` moves to the next one.

    Each input is read through its own `InputReader`, which reports EOF at the input's end,
    so a demuxer never reads past it into the next input's bytes.
    """

    def __init__(
        self,
        fd: int = 0,
        before_wait: Callable[[], None] | None = None,
        on_command: Callable[[Command], None] | None = None,
    ) -> None:
        """`before_wait()` runs whenever the pipe is empty, before waiting for more: the
        node's batch has been handled (e.g. flush the events it produced, in one write).
        `on_command(command)` handles the node's commands (`M` records) as they come."""
        self.fd = fd
        self.before_wait = before_wait
        self.on_command = on_command
        os.set_blocking(fd, False)
        self.buffer = bytearray()
        self.remaining = 0  # payload bytes of the current D record not yet handed out
        self.eof = False
        self.next_format: str | None = None
        self.generation = 0

    def next_input(self) -> InputReader | None:
        """The reader of the next input, None at the end of stdin. Whatever the current
        input's demuxer left unread is skipped."""
        while self.next_format is None:
            if not self._skip_data() or self._next_record() is None:
                return None
        container_format, self.next_format = self.next_format, None
        self.generation += 1
        return InputReader(self, self.generation, container_format)

    def read(self, generation: int, size: int) -> bytes:
        """Up to `size` bytes of input `generation`; returns as soon as any bytes are there
        (waiting for a full buffer would add latency as the bitrate falls)."""
        while generation == self.generation and self.next_format is None:
            if self.remaining:
                if not self.buffer and not self._fill():
                    return b""
                take = min(size, self.remaining, len(self.buffer))
                data = bytes(self.buffer[:take])
                del self.buffer[:take]
                self.remaining -= take
                return data
            if self._next_record() is None:
                return b""
        return b""

    def _next_record(self) -> bytes | None:
        """Read one record header (and an S or M record's payload); None at EOF."""
        if not self._fill_to(RECORD_HEADER.size):
            return None
        header: tuple[bytes, int] = RECORD_HEADER.unpack(self.buffer[: RECORD_HEADER.size])
        kind, length = header
        del self.buffer[: RECORD_HEADER.size]
        if kind == DATA_RECORD:
            self.remaining = length
            return kind
        if kind not in (START_RECORD, MESSAGE_RECORD) or not self._fill_to(length):
            raise ValueError(f"corrupt worker input record {kind!r}")
        payload = bytes(self.buffer[:length])
        del self.buffer[:length]
        if kind == MESSAGE_RECORD:
            self._command(payload)
            return kind
        container_format = payload.decode()
        if container_format not in FORMATS:
            raise ValueError(f"unknown container format {container_format!r}")
        self.next_format = container_format
        return kind

    def _command(self, payload: bytes) -> None:
        try:
            command = decode_message(payload)
        except ContractError as error:
            log.warning("ignoring a command: %s", error)
            return
        if self.on_command is None:
            log.warning("ignoring a %s command: nothing handles commands here", command.kind)
        else:
            self.on_command(command)

    def _skip_data(self) -> bool:
        """Drop the rest of the current D record; False at EOF."""
        while self.remaining:
            if not self.buffer and not self._fill():
                return False
            take = min(self.remaining, len(self.buffer))
            del self.buffer[:take]
            self.remaining -= take
        return True

    def _fill_to(self, size: int) -> bool:
        while len(self.buffer) < size:
            if not self._fill():
                return False
        return True

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            if self.before_wait is not None:
                self.before_wait()
            select.select([self.fd], [], [])
            data = os.read(self.fd, READ_SIZE)
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True


class InputReader:
    """The file object PyAV reads one input through."""

    def __init__(self, pipe: PipeInput, generation: int, container_format: str) -> None:
        self.pipe = pipe
        self.generation = generation
        self.format = container_format
        self.reprobed = False  # opened again after a probe that did not tell its streams

    @property
    def ended(self) -> bool:
        """Whether the input is over: the node started another, or stdin ended and nothing of
        it is left to read."""
        pipe = self.pipe
        return pipe.generation != self.generation or pipe.next_format is not None or (pipe.eof and not pipe.buffer)

    def read(self, size: int = -1) -> bytes:
        return self.pipe.read(self.generation, size if size > 0 else READ_SIZE)


def watch_stdin(on_eof: Callable[[], None], on_command: Callable[[Command], None] | None = None, fd: int = 0) -> None:
    """Hand the node's commands to `on_command` (from this thread: queue them) and call
    `on_eof` when the node closes our stdin (how it ends a pull or WHIP worker); they read
    no media from it."""

    def run() -> None:
        try:
            pipe = PipeInput(fd, on_command=on_command)
            while pipe.next_input() is not None:
                log.warning("ignoring an input the node sent to a worker that opens its own source")
        except ValueError as error:
            log.error("worker input unreadable: %s", error)
        finally:
            on_eof()

    threading.Thread(target=run, name="stdin-eof", daemon=True).start()
