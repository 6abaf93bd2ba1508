"""The node's log: text by default, or one JSON object per line (`HEADWATER_LOG_FORMAT=json`).

A JSON line has the fields of `transcode.contract.log_fields` (time, level, logger, stream_id
where there is one, message, exception, extra fields): the same shape as the lines a worker
writes on its stderr, which the node relays with their own level and logger
(`relay_worker_line`), so a worker's records come out in the node's format, whichever it is.
"""

from __future__ import annotations

import json
import logging

from transcode.contract import RECORD_ATTRIBUTES, LogLineFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
WORKER_RELAY = logging.getLogger("headwater.worker")
LINE_FIELDS = ("time", "level", "logger", "stream_id", "message", "exception")


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(LogLineFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)


def relay_worker_line(stream_id: int, line: str) -> None:
    """One line of a worker's stderr into the node's log: a JSON record with its level,
    logger, message and fields; anything else (a library writing to stderr) as text."""
    record = parse_line(line)
    if record is None:
        WORKER_RELAY.info("stream %s worker: %s", stream_id, line, extra={"stream_id": stream_id})
        return
    message = str(record.get("message", ""))
    if record.get("exception"):
        message = f"{message}\n{record['exception']}"
    extra = {key: value for key, value in record.items() if key not in LINE_FIELDS and key not in RECORD_ATTRIBUTES}
    extra["stream_id"] = stream_id
    level = logging.getLevelName(str(record.get("level", "INFO")))
    logger = logging.getLogger(str(record.get("logger") or WORKER_RELAY.name))
    logger.log(
        level if isinstance(level, int) else logging.INFO, "stream %s worker: %s", stream_id, message, extra=extra
    )


def parse_line(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "message" in record else None
