"""Every setting of a Headwater node, in one typed class.

Each field is also an environment variable `HEADWATER_<FIELD>` (pydantic-settings); the CLI's
flags override them. URLs handed to operators are built from these values, so they are the
same ones the ingest listeners accept.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from ingest.rtmp.rests import BUSY_INTERVAL, BUSY_PUBLISHERS
from ingest.whip.udp_ports import parse_port_range


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEADWATER_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite at <data_dir>/headwater.db"
    )
    api_key: str | None = Field(default=None, description="Fixed API key; otherwise one is generated on first start")

    http_host: str = "0.0.0.0"
    http_port: int = 8080
    rtmp_port: int = 1935
    rtmps_port: int = 1936
    rtmps_cert_file: Path | None = None
    rtmps_key_file: Path | None = None
    srt_port: int = 8890
    public_host: str = "localhost"
    public_http_url: str | None = Field(
        default=None, description="Base URL viewers use; default http://<public_host>:<http_port>"
    )

    node_id: str | None = Field(
        default=None,
        max_length=64,
        description="This node's name among the nodes sharing one database (server/cluster/); default derived "
        "from the host name",
    )
    lease_ttl: float = Field(
        default=6.0,
        ge=3.0,
        le=10.0,
        description="Seconds a node's claim on a live stream outlives its last renewal (renewed every third of "
        "it): how long a dead node's streams wait before another node may take them",
    )
    cluster_viewers: Literal["proxy", "redirect"] = Field(
        default="proxy",
        description="A viewer's live request for a stream another node runs: proxied to that node (the URL, "
        "and any cache in front, stay in the path), or redirected (307) to its public URL",
    )

    part_target: float = Field(default=0.5, gt=0.05, le=2.0)
    segment_target: float = Field(default=2.0, ge=0.5, le=10.0)
    live_window_segments: int = Field(default=8, ge=3, le=100)
    publish_idle_timeout: float = Field(default=10.0, gt=0)
    failover_timeout: float = Field(
        default=4.0,
        ge=1.0,
        le=10.0,
        description="Seconds of silence from the main publisher before the backup takes over",
    )
    ingest_read_interval: float = Field(
        # One passthrough stream, node + worker (A/B, same period): 2.83, 2.55 and 2.52 % of a
        # core at 0.2, 0.25 and 0.3 s (0.25 s is half a part: every other tick carries a part
        # boundary); bench/latency.py: LL-HLS p95 0.55 s at 0.1 s, 0.65 at 0.2, 0.66 at 0.25,
        # 0.71 at 0.3. A busy tick rests less (ingest/rtmp/rests.py).
        default=0.25,
        ge=0.0,
        le=0.5,
        description="Seconds an RTMP publisher's socket rests between reads: one wake-up per batch of "
        "frames instead of per frame (less CPU, at most this much more latency); at most "
        f"{BUSY_INTERVAL} s while more than {BUSY_PUBLISHERS} publishers rest together; "
        "by default never more than half a part",
    )
    srt_latency_ms: int = Field(default=120, ge=20, le=8000, description="SRT receiver latency")
    worker_restart_limit: int = Field(default=5, ge=0)
    pull_open_timeout: float = Field(default=10.0, gt=0, description="Seconds to open a pull URL")
    pull_read_timeout: float = Field(
        default=5.0, gt=0, description="Seconds without data before a pull source counts as lost"
    )
    pull_backoff_max: float = Field(default=30.0, gt=0, description="Longest wait between rounds of pull URLs")
    pull_give_up_after: float = Field(
        default=7200.0, gt=0, description="Seconds without a working pull source before active=false"
    )
    whip_ice_loopback: bool = Field(
        default=False, description="Offer 127.0.0.1 as a WebRTC host candidate (same-host publishers, tests)"
    )
    whip_media_timeout: float = Field(default=15.0, gt=0, description="Seconds after the answer to wait for media")
    whip_udp_ports: str | None = Field(
        default=None,
        description="LOW-HIGH: the UDP ports WebRTC (WHIP) sessions bind, e.g. 40000-40099, to publish them from a "
        "container or open them in a firewall; default any free port",
    )
    whip_public_host: str | None = Field(
        default=None,
        description="An IP address WHIP answers also offer as a candidate, with the same ports: the host's address "
        "when the node runs behind Docker's port mapping or a 1:1 NAT",
    )
    screenshot_interval: float = Field(
        default=10.0,
        ge=1.0,
        le=3600.0,
        description="seconds between two JPEG screenshots of a live stream (the API's `screenshot`)",
    )
    recording_grace: float = Field(
        default=10.0,
        ge=0.0,
        description="Seconds a recording waits for a dropped publisher (main or backup): back within it, "
        "the same video goes on; else the video is finalized",
    )
    recording_split: float = Field(
        default=14400.0,
        ge=1.0,
        description="Seconds of a recording after which it goes on in a new video (cut at a keyframe)",
    )
    overlay_allow_private: bool = Field(
        default=False,
        description="Let HTML overlay pages reach loopback, link-local, private and cloud-metadata addresses "
        "(refused by default: overlay URLs are chosen by API users)",
    )
    x264_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        default="superfast", description="libx264 preset of the live renditions (see bench/transcode_cost.py)"
    )
    hardware_encoder: bool = Field(default=True, description="Use NVENC/QSV when the machine has one")
    transcode_degrade_after: float = Field(
        default=5.0, gt=0, description="Seconds behind real time before the top rendition is shed"
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line (time, level, logger, stream_id, message, fields)"
    )
    metrics: bool = Field(
        default=True,
        description="Serve GET /metrics (Prometheus) and keep its bookkeeping: requests by status, who follows "
        "each playlist",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, GET /metrics asks for `Authorization: Bearer <token>`"
    )
    access_log: bool = Field(default=False, description="Log every HTTP request (costly under load)")

    @field_validator("whip_udp_ports", "whip_public_host", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        """An empty environment variable (compose's `${X:-}`) means unset."""
        return None if value == "" else value

    @field_validator("whip_udp_ports")
    @classmethod
    def _port_range(cls, value: str | None) -> str | None:
        if value is not None:
            parse_port_range(value)
        return value

    @field_validator("whip_public_host")
    @classmethod
    def _ip_address(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)  # ValueError: ICE candidates carry addresses, not names
        return value

    @property
    def whip_udp_port_range(self) -> tuple[int, int] | None:
        return parse_port_range(self.whip_udp_ports) if self.whip_udp_ports else None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'headwater.db').resolve()}"

    @property
    def http_base_url(self) -> str:
        if self.public_http_url:
            return self.public_http_url.rstrip("/")
        return f"http://{self.public_host}:{self.http_port}"

    @property
    def shared_database(self) -> bool:
        """Other nodes may share the database (PostgreSQL); a SQLite file is one node's."""
        return make_url(self.resolved_database_url).get_backend_name() != "sqlite"

    @property
    def resolved_node_id(self) -> str:
        """HEADWATER_NODE_ID, else the host name (a container's is its id) in the id's alphabet."""
        if self.node_id:
            return self.node_id
        return re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64] or "node"

    @property
    def rtmps_enabled(self) -> bool:
        return self.rtmps_cert_file is not None and self.rtmps_key_file is not None

    @property
    def live_dir(self) -> Path:
        return self.data_dir / "live"

    @property
    def recording_dir(self) -> Path:
        """Recordings (`server/storage.LocalRecordingStorage`): they outlive their stream."""
        return self.data_dir / "recordings"

    @property
    def screenshot_dir(self) -> Path:
        """Outside `live_dir`: a stream's last screenshot outlives its broadcast."""
        return self.data_dir / "screenshots"

    @model_validator(mode="after")
    def _rest_at_most_half_a_part(self) -> Settings:
        """Unless set, a publisher rests at most half a part: frames come in batches one rest
        apart and a part is cut once its last frame is in, so with short parts (0.2 s,
        MediaMTX's default) a 0.25 s rest would deliver parts in pairs and add up to a
        whole part to the latency."""
        if "ingest_read_interval" not in self.model_fields_set:
            self.ingest_read_interval = min(self.ingest_read_interval, self.part_target / 2)
        return self

    def on_rest_grid(self, seconds: float) -> float:
        """The multiple of `ingest_read_interval` nearest `seconds` (at least one interval): a
        periodic timer with that period falls on the RTMP rest ticks, so it costs the node no
        wake-up of its own (docs/architecture.md: "one grid for every timer")."""
        step = self.ingest_read_interval
        if not step:
            return seconds
        return step * max(1, round(seconds / step))
