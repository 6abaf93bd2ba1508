"""The worker's contract for tests: events fed to the node's side by hand, a worker run by hand."""

from __future__ import annotations

import sys
from dataclasses import MISSING, fields

from transcode.contract import EVENTS, Command, Event, WorkerConfig, worker_input

BLANKS = {"int": 0, "float": 0.0, "str": "", "bool": False}


def worker_event(plain: dict) -> Event:
    """The typed event of a plain one (`{"event": kind, ...}`), the fields a test does not
    care about left blank (0, "", False, [])."""
    data = dict(plain)
    cls = EVENTS[data.pop("event")]
    for field in fields(cls):
        if field.name not in data and field.default is MISSING and field.default_factory is MISSING:
            data[field.name] = [] if str(field.type).startswith("list") else BLANKS[str(field.type)]
    return cls(**data)


def plain(event: Event | dict) -> dict:
    """An event as a worker's encoder sends it, whether typed or the packager's dict."""
    return event if isinstance(event, dict) else event.plain()


def worker_run(config: WorkerConfig | dict, *commands: Command) -> tuple[list[str], bytes]:
    """The command line and stdin of a real `python -m transcode.worker` (config first)."""
    if isinstance(config, dict):
        config = WorkerConfig.from_json(config)
    return [sys.executable, "-m", "transcode.worker", *config.labels()], worker_input(config, *commands)
