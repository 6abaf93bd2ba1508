"""JSON logs: one object per line, the node's records and a real worker's alike."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import pytest

from server.log_format import relay_worker_line
from server.media.worker_process import WorkerProcess
from transcode.contract import LogLineFormatter


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(LogLineFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines():
    """Every record reaching the root, as lines; the loggers the tests use pass everything on
    whatever an earlier test in this process (a node's logging setup) left on them."""
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    loggers = [logging.getLogger(name) for name in ("headwater.worker", "headwater.transcode", "headwater.test")]
    saved = [(logger.level, logger.propagate, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        logger.propagate, logger.disabled = True, False
    yield handler.lines
    for logger, (was_level, was_propagate, was_disabled) in zip(loggers, saved):
        logger.setLevel(was_level)
        logger.propagate, logger.disabled = was_propagate, was_disabled
    root.removeHandler(handler)
    root.level = level


def test_a_record_is_one_line_with_its_stream_and_fields(json_lines):
    log = logging.getLogger("headwater.test")
    log.warning("stream %s: publisher %s left", 42, "10.0.0.1:5000")
    log.info("no stream here", extra={"peer": "10.0.0.2", "bytes": 12})
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("stream %s worker failed", 7)
    assert all("\n" not in line for line in json_lines)
    first, second, third = (json.loads(line) for line in json_lines)
    assert first["level"] == "WARNING" and first["logger"] == "headwater.test" and first["stream_id"] == 42
    assert first["message"] == "stream 42: publisher 10.0.0.1:5000 left" and first["time"].endswith("Z")
    assert "stream_id" not in second and second["peer"] == "10.0.0.2" and second["bytes"] == 12
    assert third["stream_id"] == 7 and "ValueError: bad\nvalue" in third["exception"]


def test_a_worker_line_keeps_its_level_and_logger_and_text_is_relayed_as_text(json_lines):
    line = json.dumps({"time": "t", "level": "ERROR", "logger": "headwater.transcode", "message": "x264 failed"})
    relay_worker_line(5, line)
    relay_worker_line(5, "[libx264 @ 0x55] something a library printed")
    error, text = (json.loads(line) for line in json_lines)
    assert (error["level"], error["logger"], error["stream_id"]) == ("ERROR", "headwater.transcode", 5)
    assert error["message"] == "stream 5 worker: x264 failed"
    assert (text["level"], text["logger"], text["stream_id"]) == ("INFO", "headwater.worker", 5)


async def test_a_real_worker_s_records_come_through_as_its_own(json_lines):
    """A worker given no config record logs an error and exits 2: the node's log gets it as
    an ERROR of the worker's logger, with the stream's id."""
    worker = WorkerProcess(9, lambda event: None)
    worker.process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "transcode.worker",
        "--stream",
        "9",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    worker.process.stdin.write(b"Xgarbage")
    worker.process.stdin.close()
    await worker._relay_logs()
    assert await worker.process.wait() == 2
    records = [json.loads(line) for line in json_lines]
    errors = [r for r in records if r["level"] == "ERROR" and r.get("stream_id") == 9]
    assert errors and errors[0]["logger"] == "headwater.worker", records
