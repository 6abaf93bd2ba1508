"""The stream worker: one process per live stream, `python -m transcode.worker --stream <id> --out-dir <dir>`.

The arguments are labels for `ps`; the config comes first on stdin (`transcode/contract.py`),
then the source as records (`transcode/pipe_source.py`): one input (FLV from the node's RTMP
server, MPEG-TS from its SRT listener) after another, a new one at each switch between the
stream's main and backup publishers, and the node's other commands. stdout carries typed
events to the node, stderr carries logs. The worker ends when stdin ends: it finalizes the
playlists (the packager reports `ended`) and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av

from transcode.commands import WorkerContext
from transcode.contract import ContractError, Error, Event, WorkerConfig, read_config
from transcode.events import EventChannel
from transcode.heap import keep_freed_memory
from transcode.pipe_source import PipeInput, PipeSource
from transcode.pipeline import StreamPipeline
from transcode.pull_worker import run_pull

log = logging.getLogger("headwater.worker")


def next_source(pipe: PipeInput) -> PipeSource | None:
    """The next input whose streams are fully known (see `PipeSource.complete`).

    An input still going whose first bytes did not tell is probed again where the last probe
    stopped, until it tells or ends: an MPEG-TS encoder that flags no random access point is
    started by the node at any PAT (`server/media/ts_feed.py`), and its first SPS may come with
    a keyframe seconds later."""
    reader = pipe.next_input()
    while reader is not None:
        try:
            source = PipeSource(reader)
        except av.error.FFmpegError as error:
            log.warning("skipping a %s input that could not be opened: %s", reader.format, error)
            reader = pipe.next_input()
            continue
        if source.complete:
            return source
        source.close()
        if reader.ended:
            log.warning("skipping a %s input that ended before its streams were known", reader.format)
            reader = pipe.next_input()
        elif not reader.reprobed:
            log.warning("the %s input's first bytes do not tell its streams (no keyframe yet?); probing on",
                        reader.format)
            reader.reprobed = True
    return None


def run(config: WorkerConfig, emit: Callable[[Event | dict], None], source_fd: int = 0,
        clock: Callable[[], float] = time.monotonic, flush: Callable[[], None] | None = None) -> None:
    """Package (and transcode) what feeds the stream until it ends."""
    context = WorkerContext(config, emit)
    if config.pull_urls:
        run_pull(context, clock)
        return
    if config.whip_offer:
        from transcode.whip_worker import run_whip  # aiortc loads only in WHIP workers
        run_whip(context, clock)
        return
    pipe = PipeInput(source_fd, before_wait=flush, on_command=context.dispatch)
    source = next_source(pipe)
    if source is None:
        return  # the node gave up before sending anything usable
    pipeline = context.pipeline = StreamPipeline(context.config, source.video, source.audio, emit, clock)
    emit(pipeline.source_event(source.video, source.audio))
    try:
        while True:
            for packet in source.packets():
                pipeline.publish(packet)
            following = next_source(pipe)
            if following is None:
                break
            emit(pipeline.source_event(following.video, following.audio, changed=True))
            pipeline.source_changed(following.video, following.audio)
            source.close()
            source = following
    finally:
        try:
            pipeline.close()
        finally:
            source.close()


def labels(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m transcode.worker",
                                     description="A stream worker; its config comes first on stdin.")
    parser.add_argument("--stream", type=int, help="the stream's id (a label for ps)")
    parser.add_argument("--out-dir", help="the stream's output directory (a label for ps)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
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
        log.exception("stream %s worker failed", config.stream_id)
        events.send(Error(message=str(error)))
        return 1
    finally:
        events.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
