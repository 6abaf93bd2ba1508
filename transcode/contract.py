"""The contract between the node and a stream worker: the worker's config, the commands the
node sends it and the events it sends back, with their one encoder and decoder.

Both sides import this module and nothing else of each other: the node
(`server/media/worker_process.py`, `server/media/worker_events.py`) and the worker
(`transcode/worker.py`, `transcode/commands.py`, `transcode/events.py`). `server/` imports
`transcode/` only here and to start a worker.

The pipe:
- the worker's command line carries no secret, only labels for `ps` (`--stream <id>
  --out-dir <dir>`);
- stdin is a sequence of records, `kind (1 byte) + length (4 bytes, big-endian) + payload`.
  The first record is `C`: the `WorkerConfig` as JSON, with the contract version; the worker
  reads it before anything else. Then commands: `S` (`StartInput`) and `D` (`InputData`),
  binary because they carry the media, and `M` + JSON for every other `Command`. EOF on stdin
  ends the stream;
- stdout is one JSON object per line, an `Event`: `{"v": <version>, "event": <kind>, ...fields}`;
- stderr is the worker's log, one JSON object per line (`LogLineFormatter`: time, level,
  logger, stream_id where known, message, exception, extra fields), which the node puts in its
  own log with the record's level and logger; anything else a library writes there is relayed
  as text.

Adding a command or an event means one dataclass here (or in a module that registers it
with `command` / `event`, as a test does) and one handler on the side that receives it
(`transcode/commands.py`'s `COMMAND_HANDLERS`, `server/media/worker_events.py`'s `HANDLERS`).

`packager/` imports nothing of the project, so the packager reports its events as plain
dicts (`{"event": "part", ...}`); the worker's encoder takes those through `event_from_plain`,
which checks them against the types below, so what crosses the pipe is always a typed event.
The node hands `ResumeTracker` (packager) the plain form back (`Event.plain`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import traceback
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from packager.live import PackagerConfig
from packager.resume import ResumePoint
from transcode.ladder import Rendition as Rendition  # re-exported: part of the contract

VERSION = 2  # 2: `playlist` events carry updates, not the whole text
RECORD_HEADER = struct.Struct(">cI")
CONFIG_RECORD = b"C"
START_RECORD = b"S"
DATA_RECORD = b"D"
MESSAGE_RECORD = b"M"
FORMATS = ("flv", "mpegts")


class ContractError(ValueError):
    """A record, command or event that does not follow this contract (or another version of it)."""


# -- the worker's config --------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerConfig:
    stream_id: int
    out_dir: str
    part_target: float = 0.5
    segment_target: float = 2.0
    window_segments: int = 8  # the short live window (DVR off), and the least any window lists
    dvr_seconds: float | None = None  # DVR on: every output lists the last this many seconds
    mpegts_endlist: bool = True
    pull_urls: tuple[str, ...] = ()  # a PULL stream: the worker opens these itself
    pull_open_timeout: float = 10.0
    pull_read_timeout: float = 5.0
    pull_backoff_max: float = 30.0
    pull_give_up_after: float = 7200.0
    whip_offer: str | None = None  # a WHIP stream: the worker answers this SDP offer itself
    whip_ice_loopback: bool = False
    whip_media_timeout: float = 15.0
    whip_udp_ports: tuple[int, int] | None = None  # the ICE sockets' port range (None: any free port)
    whip_ice_servers: list[dict[str, Any]] = field(default_factory=list)  # STUN/TURN (ingest/whip/ice_servers.py)
    renditions: list[Rendition] = field(default_factory=list)  # the quality set; empty = origin only
    x264_preset: str = "superfast"
    hardware_encoder: bool = True
    degrade_after: float = 5.0  # seconds behind real time before a rendition is shed
    resume: ResumePoint | None = None  # this replaces a worker of the same stream: continue it
    utc_timing_url: str = "/time"  # the node's clock for the MPD's UTCTiming: absolute (server/urls.py)
    screenshot_file: str | None = None  # where the JPEG of the live picture goes; None: no screenshots
    screenshot_interval: float = 10.0
    overlays: bool = False  # html_overlay: the origin is re-encoded from the composited picture

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["pull_urls"] = list(self.pull_urls)
        data["renditions"] = [r.to_json() for r in self.renditions]
        data["resume"] = self.resume.to_json() if self.resume else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerConfig:
        data = dict(data)
        data["pull_urls"] = tuple(data.get("pull_urls", ()))
        if data.get("whip_udp_ports") is not None:
            data["whip_udp_ports"] = tuple(data["whip_udp_ports"])
        data["renditions"] = [Rendition.from_json(r) for r in data.get("renditions", [])]
        data["resume"] = ResumePoint.from_json(data.get("resume"))
        return cls(**data)

    def packager(self) -> PackagerConfig:
        return PackagerConfig(
            out_dir=Path(self.out_dir),
            part_target=self.part_target,
            segment_target=self.segment_target,
            window_segments=self.window_segments,
            dvr_seconds=self.dvr_seconds,
            utc_timing_url=self.utc_timing_url,
            resume=self.resume,
        )

    def labels(self) -> list[str]:
        """The worker's command line arguments: what `ps` may show (never a secret)."""
        return ["--stream", str(self.stream_id), "--out-dir", self.out_dir]


def record(kind: bytes, payload: bytes) -> bytes:
    return RECORD_HEADER.pack(kind, len(payload)) + payload


def config_record(config: WorkerConfig) -> bytes:
    """The first record on a worker's stdin."""
    return record(CONFIG_RECORD, json.dumps({"v": VERSION, "config": config.to_json()}).encode())


def worker_input(config: WorkerConfig, *commands: Command) -> bytes:
    """A whole stdin for a worker run by hand (a benchmark, a test): its config, then `commands`."""
    return config_record(config) + b"".join(encode_command(command) for command in commands)


def decode_config(payload: bytes) -> WorkerConfig:
    try:
        data = json.loads(payload)
        version = data.get("v")
        if version != VERSION:
            raise ContractError(f"worker config of contract version {version!r}; this worker speaks {VERSION}")
        return WorkerConfig.from_json(data["config"])
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
        raise ContractError(f"unreadable worker config: {error}") from None


def read_config(fd: int = 0) -> WorkerConfig:
    """Block until the config record is read from `fd`, and not a byte further."""
    kind, length = RECORD_HEADER.unpack(_read_exactly(fd, RECORD_HEADER.size))
    if kind != CONFIG_RECORD:
        raise ContractError(f"a worker's first record must be its config, not {kind!r}")
    return decode_config(_read_exactly(fd, length))


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise ContractError("stdin ended before the worker's config")
        data += chunk
    return data


# -- commands: node → worker ----------------------------------------------------------------


class Command:
    """A command the node sends a worker (besides the media records)."""

    kind: ClassVar[str] = ""


@dataclass(frozen=True)
class StartInput(Command):
    """A new input starts (the first, and one at each main ↔ backup switch): `flv` (RTMP) or
    `mpegts` (SRT). The worker keeps its packagers and marks a discontinuity."""

    kind: ClassVar[str] = "start_input"
    format: str


@dataclass(frozen=True)
class InputData(Command):
    """Source bytes of the current input."""

    kind: ClassVar[str] = "input_data"
    data: bytes


COMMANDS: dict[str, type[Command]] = {}
C = TypeVar("C", bound=type[Command])


def command(cls: C) -> C:
    """Register a JSON command type (sent as an `M` record)."""
    COMMANDS[cls.kind] = cls
    return cls


@command
@dataclass(frozen=True)
class SetOverlay(Command):
    """An overlay's placement and, when `png` is not empty, its new image (PNG, base64: the
    `M` record is JSON). Sent for each new capture and each change of position or size."""

    kind: ClassVar[str] = "set_overlay"
    overlay_id: int
    x: int
    y: int
    width: int
    height: int
    stretch: bool = False
    png: str = ""


@command
@dataclass(frozen=True)
class KeepOverlays(Command):
    """The stream's overlays are these (any other is removed from the picture)."""

    kind: ClassVar[str] = "keep_overlays"
    overlay_ids: list[int]


@command
@dataclass(frozen=True)
class SetDvrWindow(Command):
    """The stream's DVR settings changed while live: every output now lists the last
    `dvr_seconds` (None: DVR off, the short live window). Shrinking trims at once, growing
    keeps what is listed."""

    kind: ClassVar[str] = "set_dvr_window"
    dvr_seconds: float | None


@command
@dataclass(frozen=True)
class ClearDvr(Command):
    """`PUT /streaming/streams/{id}/dvr_cleanup`: the DVR window restarts at the live edge (the
    short live window stays listed, players play on) and the rest of it is deleted."""

    kind: ClassVar[str] = "clear_dvr"


@command
@dataclass(frozen=True)
class StartRecording(Command):
    """Record the stream into `directory` (the recording `key`'s, `server/storage.py`) from its
    next keyframe: the origin variant's video (`record_type` "origin") or the top rendition's
    ("transcoded"), and the audio. `split_seconds`: cut into a new recording at the first
    segment boundary past that much (the worker names it: `recording_split`). `continues`: the
    recording exists (a previous worker's, the publisher back within the grace): it goes on
    after a discontinuity, `recorded` seconds long already."""

    kind: ClassVar[str] = "start_recording"
    key: str
    directory: str
    record_type: str = "origin"
    split_seconds: float | None = None
    continues: bool = False
    recorded: float = 0.0  # seconds a continued recording already holds (the split counts them)


@command
@dataclass(frozen=True)
class StopRecording(Command):
    """End the recording with the segment being written (`recording_stopped` follows)."""

    kind: ClassVar[str] = "stop_recording"
    key: str


@command
@dataclass(frozen=True)
class StartRestream(Command):
    """Forward the stream's origin (no re-encoding) to `uri` (rtmp://, rtmps:// or srt://, with
    its secrets: this record is on stdin, never a command line) from its next keyframe, until
    `StopRestream`; a target that fails is retried with backoff. `no_audio` drops the audio, or
    with `no_audio_mode` "silence" replaces it with silent AAC. `session` is the node's number
    for this start: the restream's events carry it, so a late event of an earlier start (the
    uri changed meanwhile) is told apart. A start of a restream that runs replaces it."""

    kind: ClassVar[str] = "start_restream"
    restream_id: int
    session: int
    uri: str
    no_audio: bool = False
    no_audio_mode: str = "drop"


@command
@dataclass(frozen=True)
class StopRestream(Command):
    """Stop forwarding to the restream's target and close its connection."""

    kind: ClassVar[str] = "stop_restream"
    restream_id: int


def encode_command(item: Command) -> bytes:
    if isinstance(item, InputData):
        return record(DATA_RECORD, item.data)
    if isinstance(item, StartInput):
        if item.format not in FORMATS:
            raise ContractError(f"unknown container format {item.format!r}")
        return record(START_RECORD, item.format.encode())
    if COMMANDS.get(item.kind) is not type(item):
        raise ContractError(f"unregistered command type {type(item).__name__}")
    return record(MESSAGE_RECORD, json.dumps({"v": VERSION, "command": item.kind, **item.__dict__}).encode())


def decode_message(payload: bytes) -> Command:
    """An `M` record's command."""
    try:
        data = json.loads(payload)
        if data.pop("v", None) != VERSION:
            raise ContractError("a command of another contract version")
        cls = COMMANDS[data.pop("command")]
        return cls(**data)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
        raise ContractError(f"unreadable command: {error!r}") from None


# -- events: worker → node ------------------------------------------------------------------


class Event:
    kind: ClassVar[str] = ""

    def plain(self) -> dict[str, Any]:
        """The packager's form of the event (`packager/` speaks dicts)."""
        return {"event": self.kind, **self.__dict__}


EVENTS: dict[str, type[Event]] = {}
E = TypeVar("E", bound=type[Event])


def event(cls: E) -> E:
    """Register an event type under its `kind`."""
    if cls.kind in EVENTS and EVENTS[cls.kind] is not cls:
        raise ContractError(f"two event types for {cls.kind!r}")
    EVENTS[cls.kind] = cls
    return cls


class PublishedText(Event):
    """A playlist or manifest: the node serves `text` at `path`."""

    path: str
    text: str


# packager/live.py (CMAF: LL-HLS and DASH)
@event
@dataclass
class Init(Event):
    kind: ClassVar[str] = "init"
    rendition: str
    path: str
    generation: int


@event
@dataclass
class Carried(Event):
    """A worker after a crash lists these files of its predecessor's on."""

    kind: ClassVar[str] = "carried"
    paths: list[str]


@event
@dataclass
class Part(Event):
    kind: ClassVar[str] = "part"
    rendition: str
    msn: int
    part: int
    path: str
    duration: float
    independent: bool
    file: str  # the part is bytes `offset`..`offset + size` of its segment's file
    offset: int
    size: int
    discontinuity_sequence: int


@event
@dataclass
class Segment(Event):
    kind: ClassVar[str] = "segment"
    rendition: str
    msn: int
    path: str
    duration: float
    init: str
    start: int
    ticks: int
    timescale: int
    size: int
    wall_clock: float
    discontinuity: bool
    discontinuity_sequence: int


@event
@dataclass
class Playlist(Event):
    """A media playlist changed: not its text (600 KB for a 4-hour window, at every part) but
    what changed (`packager/playlist_text.PlaylistUpdate`): the node keeps the text."""

    kind: ClassVar[str] = "playlist"
    rendition: str
    path: str
    msn: int  # the last complete part
    part: int
    header: str
    first_msn: int  # settled entries below it left the playlist
    entries: list[list[Any]]  # newly settled segments, `packager.hls.Entry.plain()` each
    tail: str
    tail_duration: float
    can_skip_until: float  # 0: no delta updates offered
    fresh: bool  # the producer's first: entries kept from another worker go


@event
@dataclass
class Removed(Event):
    kind: ClassVar[str] = "removed"
    paths: list[str]


@event
@dataclass
class Master(PublishedText):
    kind: ClassVar[str] = "master"
    path: str
    text: str


@event
@dataclass
class Mpd(PublishedText):
    kind: ClassVar[str] = "mpd"
    path: str
    text: str
    availability_start: float  # the MPD's clock, kept by a worker that follows
    stream_start: float
    media_end: float
    periods: dict[str, list[float]] = field(default_factory=dict)  # each Period's start and reference


@event
@dataclass
class Ended(Event):
    kind: ClassVar[str] = "ended"


# packager/ts_output.py, transcode/outputs.py (HLS over MPEG-TS)
@event
@dataclass
class TsSegment(Event):
    kind: ClassVar[str] = "ts_segment"
    rendition: str
    sequence: int
    path: str
    duration: float
    discontinuity: bool
    discontinuity_sequence: int


@event
@dataclass
class TsPlaylist(PublishedText):
    kind: ClassVar[str] = "ts_playlist"
    rendition: str
    path: str
    text: str


@event
@dataclass
class TsMaster(PublishedText):
    kind: ClassVar[str] = "ts_master"
    path: str
    text: str


# transcode/: the source, the transcoder, the worker
@dataclass
class SourceEvent(Event):
    """What the source holds (`transcode/pipeline.source_event`); a pull worker adds which URL."""

    renditions: list[str]
    source_warning: str | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    source_type: str | None = None
    source_url: str | None = None  # without credentials


@event
@dataclass
class Started(SourceEvent):
    kind: ClassVar[str] = "started"


@event
@dataclass
class SourceChanged(SourceEvent):
    kind: ClassVar[str] = "source_changed"


@event
@dataclass
class Stats(Event):
    kind: ClassVar[str] = "stats"
    speed: float | None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    bitrate: int | None = None  # bits per media second of the source (every stream of it), for /metrics


@event
@dataclass
class Degraded(Event):
    """A rendition was shed (load, or its encoder failed); `renditions` are those left."""

    kind: ClassVar[str] = "degraded"
    dropped: str
    reason: str
    renditions: list[str]


@event
@dataclass
class Error(Event):
    kind: ClassVar[str] = "error"
    message: str


@event
@dataclass
class SourceFailed(Event):
    kind: ClassVar[str] = "source_failed"
    source_url: str
    message: str


@event
@dataclass
class SourceLost(Event):
    kind: ClassVar[str] = "source_lost"
    source_url: str


@event
@dataclass
class PullGaveUp(Event):
    kind: ClassVar[str] = "pull_gave_up"
    idle_seconds: float


@event
@dataclass
class WhipAnswer(Event):
    kind: ClassVar[str] = "whip_answer"
    sdp: str


@event
@dataclass
class WhipFailed(Event):
    kind: ClassVar[str] = "whip_failed"
    status: int
    message: str


# packager/recorder.py
@event
@dataclass
class RecordingProgress(Event):
    """Seconds the recording holds (after each complete segment; with a continued
    recording's earlier seconds)."""

    kind: ClassVar[str] = "recording_progress"
    key: str
    duration: float


@event
@dataclass
class RecordingSplit(Event):
    """`key` ended at a segment boundary after `duration` seconds; `next_key` continues it
    from the next segment (in a directory beside it, named by the key)."""

    kind: ClassVar[str] = "recording_split"
    key: str
    next_key: str
    duration: float


@event
@dataclass
class RecordingFailed(Event):
    """A write failed (disk full, I/O error): the recording stopped; the stream goes on."""

    kind: ClassVar[str] = "recording_failed"
    key: str
    message: str


@event
@dataclass
class RecordingStopped(Event):
    """The recording is complete on disk (stopped, or ended by a split)."""

    kind: ClassVar[str] = "recording_stopped"
    key: str
    duration: float


# transcode/restream/
@event
@dataclass
class RestreamLive(Event):
    """The restream's target is connected and takes the stream."""

    kind: ClassVar[str] = "restream_live"
    restream_id: int
    session: int


@event
@dataclass
class RestreamStopped(Event):
    """The restream's target is no longer connected: `message` says why (no secret in it); the
    worker retries unless the node stopped it."""

    kind: ClassVar[str] = "restream_stopped"
    restream_id: int
    session: int
    message: str


def event_from_plain(data: dict[str, Any]) -> Event:
    """A typed event from its plain form (`{"event": kind, ...fields}`)."""
    try:
        data = dict(data)
        cls = EVENTS[data.pop("event")]
        return cls(**data)
    except (KeyError, TypeError) as error:
        raise ContractError(f"not an event of this contract: {error!r}") from None


def encode_event(item: Event | dict[str, Any]) -> bytes:
    """One line of the worker's stdout. A plain dict (the packager's) is checked first."""
    if isinstance(item, dict):
        item = event_from_plain(item)
    return (json.dumps({"v": VERSION, "event": item.kind, **item.__dict__}, separators=(",", ":")) + "\n").encode()


def decode_event(line: bytes) -> Event:
    try:
        data: Any = json.loads(line)
    except ValueError as error:
        raise ContractError(f"not an event line: {error}") from None
    if not isinstance(data, dict):
        raise ContractError("not an event line: no JSON object")
    version = data.pop("v", None)
    if version != VERSION:
        raise ContractError(f"an event of contract version {version!r}; this node speaks {VERSION}")
    return event_from_plain(data)


# -- log lines (the worker's stderr, and the node's log with HEADWATER_LOG_FORMAT=json) ----------
# LogRecord's own attributes, and uvicorn's `color_message` (its message with ANSI colours)
RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
}
STREAM_MESSAGE = re.compile(r"stream %[sd]\b")  # the project's convention: "stream %s: ..." names its stream


def log_fields(record: logging.LogRecord) -> dict[str, Any]:
    """One log record as the fields of a JSON log line. `stream_id` is the record's own
    (`extra={"stream_id": ...}`) or, by the project's convention, the first argument of a
    message that starts with "stream %s"."""
    fields: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": record.levelname,
        "logger": record.name,
    }
    stream_id = getattr(record, "stream_id", None)
    named = isinstance(record.msg, str) and STREAM_MESSAGE.match(record.msg)
    if stream_id is None and named and isinstance(record.args, tuple) and record.args:
        stream_id = record.args[0]
    if stream_id is not None:
        fields["stream_id"] = stream_id
    fields["message"] = record.getMessage()
    if record.exc_info and record.exc_info[0] is not None:
        fields["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
    elif record.exc_text:
        fields["exception"] = record.exc_text
    for key, value in vars(record).items():
        if key not in RECORD_ATTRIBUTES and key not in fields and key != "stream_id":
            fields[key] = value
    return fields


class LogLineFormatter(logging.Formatter):
    """A record as one line of JSON (newlines in messages and tracebacks escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(log_fields(record), default=str, ensure_ascii=False)
