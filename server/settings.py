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

from ingest.rtmp.rests import BUSY_INTERVAL, BUSY_PUBLISHERS
from ingest.whip.ice_servers import IceServer, parse_ice_servers
from ingest.whip.udp_ports import parse_port_range

PLAYBACK_SECRET_CHARS = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEADWATER_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite at <data_dir>/headwater.db"
    )
    database_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a request waits for the database (to connect, for a pooled connection, for a statement)"
        " before the API answers 503",
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

    node_http_url: str | None = Field(
        default=None,
        description="Base URL the other nodes sharing the database reach this node at (they proxy viewers to it, "
        "or redirect them there); default the public one. Set it when the public URL is a cache or load "
        "balancer in front of every node (docker-compose.yml, profile cluster), e.g. http://node-1:8080",
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
    worker_start_burst: int = Field(
        default=6,
        ge=1,
        description="Workers one stream may start in a row (publications, restarts after a crash) before the "
        "next waits for a regained start: a publisher reconnecting in a loop cannot take the others' CPU",
    )
    worker_start_refill: float = Field(
        default=10.0, gt=0, description="Seconds after which a stream regains one worker start"
    )
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
    whip_ice_servers: SecretStr | None = Field(
        default=None,
        description="STUN/TURN servers for WHIP sessions: URLs separated by commas (stun:stun.example.net:3478) "
        'or WebRTC\'s JSON iceServers ([{"urls": "turn:turn.example.net:3478", "username": "u", "credential": '
        '"p"}]); the answer then carries server-reflexive/relayed candidates and advertises them in Link headers',
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
    statistics: bool = Field(
        default=True,
        description="Keep viewer sessions (client address and user agent, stored only as a salted hash) and the "
        "minutes each stream is live in the database, for the statistics API (/streaming/statistics/...)",
    )
    statistics_flush_interval: float = Field(
        default=5.0, ge=0.5, le=60.0, description="Seconds between two writes of the viewer sessions to the database"
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="S3-compatible object storage for videos (recordings and their screenshots), e.g. "
        "https://s3.eu-central-1.amazonaws.com; unset: they stay on the node's disk",
    )
    s3_bucket: str | None = Field(default=None, description="The bucket videos go to (made at start if missing)")
    s3_access_key: str | None = Field(default=None, description="The object storage's access key id")
    s3_secret_key: SecretStr | None = Field(default=None, description="The object storage's secret key")
    s3_region: str = Field(default="us-east-1", description="The object storage's region (signatures name it)")
    s3_cache_bytes: int = Field(
        default=2 << 30,
        ge=64 << 20,
        description="Bytes of video files a node keeps on its disk once read from the object storage",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, GET /metrics asks for `Authorization: Bearer <token>`"
    )
    ingest_publish_timeout: float = Field(
        default=15.0,
        gt=0,
        description="Seconds an RTMP connection has to publish, and an admitted SRT caller to send media, before "
        "it is closed (a connection that never publishes holds a socket, or its stream's slot)",
    )
    failed_attempts_burst: int = Field(
        default=10,
        ge=1,
        description="Failed attempts (publishes over RTMP/SRT/WHIP, API keys) one address may make in a row before "
        "it is refused at once: RTMP Denied, SRT 1402, HTTP 429",
    )
    failed_attempts_refill: float = Field(
        default=6.0, gt=0, description="Seconds after which a refused address regains one attempt"
    )
    http_request_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to start a request on a new connection and to send a started one whole "
        "(head and body); else the connection is closed (slowloris). A request being answered (a blocking "
        "playlist reload) is not limited by it",
    )
    http_idle_timeout: float = Field(
        default=5.0, gt=0, description="Seconds a keep-alive connection may stay idle between two requests"
    )
    http_max_body: int = Field(
        default=1 << 20, ge=1024, description="Largest request body in bytes; larger ones get 413 before being read"
    )
    access_log: bool = Field(default=False, description="Log every HTTP request (costly under load)")
    playback_secret: SecretStr | None = Field(
        default=None,
        description="Signed playback: every playback URL (live, videos, clips, player) needs a token signed with "
        f"this secret (at least {PLAYBACK_SECRET_CHARS} characters); unset: playback URLs are public",
    )
    playback_token_ttl: float = Field(
        default=86400.0, ge=10, description="Seconds a signed playback URL the API hands out stays valid, at least"
    )
    playback_bind_address: bool = Field(
        default=False, description="Signed playback: sign the viewer's address too (the URL works from it only)"
    )
    webhook_url: str | None = Field(
        default=None,
        description="POST Gcore-style webhooks (stream, video, video_delete, restream) here; unset: no event is "
        "written",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key of each webhook's `X-Headwater-Signature` (t=<unix s>,v1=<hex of "
        "HMAC(t + '.' + body)>); unset: requests are not signed",
    )
    webhook_retry_first: float = Field(
        default=1.0, gt=0, description="Seconds before a failed webhook's first retry; doubles at each failure"
    )
    webhook_retry_cap: float = Field(default=60.0, gt=0, description="The longest wait between two webhook retries")
    webhook_give_up_after: float = Field(
        default=86400.0, gt=0, description="Seconds after which an undeliverable webhook is marked dead (24 h)"
    )
    webhook_timeout: float = Field(default=10.0, gt=0, description="Seconds a webhook receiver has to answer")

    @field_validator(
        "whip_udp_ports", "whip_public_host", "whip_ice_servers", "webhook_url", "playback_secret", mode="before"
    )
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

    @field_validator("s3_endpoint", "s3_bucket", "s3_access_key", "s3_secret_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # compose's `${X:-}`

    @model_validator(mode="after")
    def _object_storage_whole(self) -> Settings:
        """Either every S3 setting or none: half of them is a mistake, not local disk."""
        given = [self.s3_endpoint, self.s3_bucket, self.s3_access_key, self.s3_secret_key]
        if any(value is not None for value in given) and not all(value is not None for value in given):
            raise ValueError("object storage needs HEADWATER_S3_ENDPOINT, _BUCKET, _ACCESS_KEY and _SECRET_KEY")
        return self

    @property
    def object_storage(self) -> bool:
        return self.s3_endpoint is not None

    @property
    def object_cache_dir(self) -> Path:
        """Video files read from the object storage, kept while there is room (`s3_cache_bytes`)."""
        return self.data_dir / "object-cache"

    @field_validator("playback_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        """128 bits at least: 32 characters, as `openssl rand -hex 16` prints (a shorter secret
        can be guessed offline from any one signed URL)."""
        if value is not None and len(value.get_secret_value()) < PLAYBACK_SECRET_CHARS:
            raise ValueError(
                f"too short for a playback secret: at least {PLAYBACK_SECRET_CHARS} characters "
                "(128 bits), e.g. from `openssl rand -hex 32`"
            )
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("webhook_url must be an http:// or https:// URL")
        return value

    @field_validator("whip_ice_servers")
    @classmethod
    def _ice_servers(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_ice_servers(value.get_secret_value())
        return value

    @property
    def whip_ice_server_list(self) -> tuple[IceServer, ...]:
        return parse_ice_servers(self.whip_ice_servers.get_secret_value()) if self.whip_ice_servers else ()

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
    def node_base_url(self) -> str:
        """Where the other nodes reach this one (`nodes.http_url`)."""
        return self.node_http_url.rstrip("/") if self.node_http_url else self.http_base_url

    @property
    def shared_database(self) -> bool:
        """Other nodes may share the database (PostgreSQL); a SQLite file is one node's."""
        return self.resolved_database_url.partition(":")[0].partition("+")[0] != "sqlite"  # the URL's backend

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
