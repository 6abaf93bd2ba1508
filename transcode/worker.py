"""The stream worker: one process per live stream, `python -m transcode.worker --stream <id> --out-dir <dir>`.

The arguments are labels for `ps`; the config comes first on stdin (`transcode/contract.py`)
and says which source the worker opens: a pushed stream's inputs, relayed by the node on
stdin (`transcode/push_worker.py`), the pull URLs (`transcode/pull_worker.py`) or the WHIP
offer (`transcode/whip_worker.py`); the sources themselves live in `ingest/`. Then stdin
carries the node's commands. stdout carries typed events to the node, stderr carries logs.
The worker ends when stdin ends: it finalizes the playlists (the packager reports `ended`)
and exits 0. A disk full with nothing left to free (`packager/disk_full.py`) ends it with one
line saying so, without a traceback: it is the machine's state, not a bug.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transcode.commands import WorkerContext
from transcode.contract import ContractError, Error, Event, LogLineFormatter, WorkerConfig, read_config
from transcode.events import EventChannel
from transcode.heap import keep_freed_memory
from transcode.pull_worker import run_pull
from transcode.push_worker import run_push

log = logging.getLogger("headwater.worker")


def run(
    config: WorkerConfig,
    emit: Callable[[Event | dict[str, Any]], None],
    source_fd: int = 0,
    clock: Callable[[], float] = time.monotonic,
    flush: Callable[[], None] | None = None,
) -> None:
    """Package (and transcode) what feeds the stream until it ends: the source the config
    names (pull URLs, a WHIP offer), else the inputs the node pushes on `source_fd`."""
    context = WorkerContext(config, emit)
    if config.pull_urls:
        run_pull(context, clock)
    elif config.whip_offer:
        from transcode.whip_worker import run_whip  # aiortc loads only in WHIP workers

        run_whip(context, clock)
    else:
        run_push(context, clock, source_fd, flush)


def labels(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m transcode.worker", description="A stream worker; its config comes first on stdin."
    )
    parser.add_argument("--stream", type=int, help="the stream's id (a label for ps)")
    parser.add_argument("--out-dir", help="the stream's output directory (a label for ps)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogLineFormatter())  # the node puts each record in its log (contract.py)
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    keep_freed_memory()
    label = labels(argv[1:])
    try:
        config = read_config(0)
    except ContractError as error:
        log.error("stream %s worker: %s", label.stream, error)
        EventChannel().send(Error(message=str(error)))
        return 2
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    events = EventChannel(batched=not (config.pull_urls or config.whip_offer))
    try:
        run(config, events.send, flush=events.flush)
    except Exception as error:  # the node logs it and decides whether to restart
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            message = f"disk full under {config.out_dir} and nothing left to free: the stream stops"
            log.error("stream %s worker: %s", config.stream_id, message)
        else:
            message = str(error)
            log.exception("stream %s worker failed", config.stream_id)
        events.send(Error(message=message))
        return 1
    finally:
        events.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
