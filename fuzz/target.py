"""What a fuzz harness is: one input in, the parser's declared errors allowed out."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEEDS = Path(__file__).parent / "seeds"
NAMES = (
    "rtmp_handshake",
    "rtmp_chunk",
    "amf0",
    "rtmp_session",
    "flv",
    "mpegts",
    "srt_streamid",
    "whip_sdp",
    "hls_query",
    "api_bodies",
)


@dataclass(frozen=True)
class Target:
    """`one(data)` feeds one input to the parser; `errors` are the exceptions it documents
    (anything else escaping `one` is a crash). `one` also asserts the target's own property
    (e.g. a bounded buffer), with AssertionError."""

    name: str
    one: Callable[[bytes], None]
    errors: tuple[type[BaseException], ...] = ()

    def check(self, data: bytes) -> None:
        """Run one input; an allowed error is a pass, anything else propagates."""
        try:
            self.one(data)
        except self.errors:
            pass

    def seeds(self) -> list[bytes]:
        directory = SEEDS / self.name
        return [path.read_bytes() for path in sorted(directory.iterdir())] if directory.is_dir() else []


def load(name: str) -> Target:
    if name not in NAMES:
        raise SystemExit(f"unknown fuzz target {name!r}; known: {', '.join(NAMES)}")
    module = importlib.import_module(f"fuzz.targets.{name}")
    target: Target = module.TARGET
    return target
