"""Tables. Column names follow the Gcore Streaming API fields they back.

A stream row holds both what the operator configures and the live status the supervisor
writes (`live`, `transcoding_speed`, ...): the API reads one row to answer a GET.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


# SQLite's AUTOINCREMENT: an id is never handed out again, even after the newest row is deleted
# (its URLs may still sit in caches). PostgreSQL's sequences behave so anyway.
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


class NodeSetting(Base):
    """Small key/value facts the node keeps across restarts (the generated API key)."""

    __tablename__ = "node_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class QualitySet(Base):
    __tablename__ = "quality_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))  # "live" | "vod"
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    qualities: Mapped[list[Quality]] = relationship(
        back_populates="quality_set",
        order_by="Quality.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class Quality(Base):
    """One rendition of a quality set (an ABR ladder rung)."""

    __tablename__ = "qualities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quality_set_id: Mapped[int] = mapped_column(ForeignKey("quality_sets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    video_bitrate: Mapped[int] = mapped_column(Integer)  # kbit/s
    audio_bitrate: Mapped[int] = mapped_column(Integer)  # kbit/s
    max_frame_rate: Mapped[float] = mapped_column(Float, default=30.0)
    quality_set: Mapped[QualitySet] = relationship(back_populates="qualities")


class Stream(Base):
    __tablename__ = "streams"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    token: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    pull: Mapped[bool] = mapped_column(Boolean, default=False)
    uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    dvr_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    dvr_duration: Mapped[int] = mapped_column(Integer, default=3600)
    auto_record: Mapped[bool] = mapped_column(Boolean, default=False)
    record_type: Mapped[str] = mapped_column(String(16), default="origin")
    projection: Mapped[str] = mapped_column(String(16), default="regular")
    html_overlay: Mapped[bool] = mapped_column(Boolean, default=False)
    hls_mpegts_endlist_tag: Mapped[bool] = mapped_column(Boolean, default=True)
    quality_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("quality_sets.id", ondelete="SET NULL"), nullable=True
    )
    client_user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    client_entity_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    srt_passphrase: Mapped[str | None] = mapped_column(String(80), nullable=True)
    broadcast_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    cdn_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # Live status, written by the supervisor from the worker's events.
    live: Mapped[bool] = mapped_column(Boolean, default=False)
    backup_live: Mapped[bool] = mapped_column(Boolean, default=False)
    stream_source_type: Mapped[str | None] = mapped_column(String(8), nullable=True)
    started_at_primary: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at_backup: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at_primary: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    transcoding_speed: Mapped[float | None] = mapped_column(Float, nullable=True)
    frame_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    video_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    video_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transcoded_qualities: Mapped[list[str]] = mapped_column(JSON, default=list)
    recording_duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    recording_video_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The stream's master playlist answers 200 (Gcore's webhook stage "transcoding"); not in the API.
    # A server default only: inserts that name no column added after them (migration tests) still work.
    output_ready: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # Why the stream's source does not work (a pull URL that fails, ...); None while it works.
    source_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # What in the current (or last) publish's source most players cannot decode, e.g. 10-bit
    # H.264; the source is still packaged. Set at each publish, None when all is playable.
    source_warning: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Where the stream's next worker numbers on (packager.resume.ResumePoint as JSON), kept
    # across node restarts; not part of the API.
    resume_point: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    overlays: Mapped[list[Overlay]] = relationship(
        back_populates="stream",
        order_by="Overlay.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )


class Overlay(Base):
    __tablename__ = "overlays"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream_id: Mapped[int] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    x: Mapped[int | None] = mapped_column(Integer, nullable=True)
    y: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stretch: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    stream: Mapped[Stream] = relationship(back_populates="overlays")


class Video(Base):
    """A video entity: what a recording of a live stream produces."""

    __tablename__ = "videos"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the stream it was recorded from; kept after that stream is deleted (no foreign key, migration 0007)
    stream_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="empty")
    duration: Mapped[int | None] = mapped_column(Integer, nullable=True)  # milliseconds
    origin_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    record_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    projection: Mapped[str] = mapped_column(String(16), default="regular")
    recording_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    client_user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # its files in the recording storage (`server/storage.py`); None for a video nothing recorded
    recording_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class WebhookEvent(Base):
    """One webhook waiting for delivery (the outbox, `server/webhooks/`): written in the
    transaction of the state change it reports, deleted once the receiver took it."""

    __tablename__ = "webhook_events"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(64), index=True)  # "stream:12": delivered in order within it
    type: Mapped[str] = mapped_column(String(16))  # stream | video | video_delete | restream
    body: Mapped[str] = mapped_column(Text)  # the JSON sent, byte for byte (what the signature covers)
    created_at: Mapped[float] = mapped_column(Float)  # unix seconds
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # set while it waits to retry
    dead: Mapped[bool] = mapped_column(Boolean, default=False)  # given up on (kept for the operator)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Restream(Base):
    """A target the stream's origin is forwarded to while the stream is live (the Gcore
    `Restream`). `live` is written by the node from the worker's events."""

    __tablename__ = "restreams"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    stream_id: Mapped[int] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"), index=True)
    uri: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    no_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    no_audio_mode: Mapped[str] = mapped_column(String(8), default="drop")
    client_user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    live: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ViewerSessionRow(Base):
    """One viewer's session on one stream (server/metrics/viewer_sessions.py), for the
    statistics API. Times are Unix seconds (UTC) at the node's tick that saw a reload; the
    client is a salted hash of its address and user agent, never the address itself.
    `stream_id` has no foreign key: statistics outlive the stream (ids are never reused)."""

    __tablename__ = "viewer_sessions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    stream_id: Mapped[int] = mapped_column(Integer, index=True)
    protocol: Mapped[str] = mapped_column(String(8))  # llhls | hls | dash
    client_hash: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float, index=True)
    seconds: Mapped[float] = mapped_column(Float)  # last_seen_at - started_at: watched


class LiveMinute(Base):
    """A minute (its start, Unix seconds) in which a stream was live: max_stream and the
    stream series (live minutes) are counted from these."""

    __tablename__ = "live_minutes"

    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    stream_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class Node(Base):
    """One node sharing the database (server/db/nodes.py): where viewers of its streams
    are sent, and when it last said it was alive (the database's clock)."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    http_url: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Lease(Base):
    """Who holds a thing that must have one holder among the nodes (a live stream's output),
    until when (the database's clock); see server/db/leases.py."""

    __tablename__ = "leases"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
