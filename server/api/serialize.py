"""Rows → the JSON shapes of the Gcore Streaming API."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone

from server.db.models import Overlay, Stream, Video
from server.settings import Settings
from server.urls import stream_urls


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as Gcore writes datetimes (SQLite returns naive UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def overlay_out(overlay: Overlay) -> dict:
    return {
        "id": overlay.id,
        "stream_id": overlay.stream_id,
        "url": overlay.url,
        "width": overlay.width,
        "height": overlay.height,
        "x": overlay.x,
        "y": overlay.y,
        "stretch": overlay.stretch,
        "created_at": iso(overlay.created_at),
        "updated_at": iso(overlay.updated_at),
    }


CONFIG_FIELDS = (
    "name", "token", "active", "pull", "uri", "dvr_enabled", "dvr_duration", "auto_record",
    "record_type", "projection", "html_overlay", "hls_mpegts_endlist_tag", "quality_set_id",
    "client_user_id", "client_entity_data", "srt_passphrase", "cdn_id",
)
STATUS_FIELDS = (
    "live", "backup_live", "stream_source_type", "transcoding_speed", "frame_rate",
    "video_width", "video_height", "recording_duration", "source_error", "source_warning",
)
TIME_FIELDS = ("created_at", "started_at_primary", "started_at_backup", "finished_at_primary")


def stream_out(stream: Stream, settings: Settings) -> dict:
    body: dict = {"id": stream.id}
    body.update({field: getattr(stream, field) for field in CONFIG_FIELDS + STATUS_FIELDS})
    body.update({field: iso(getattr(stream, field)) for field in TIME_FIELDS})
    body["broadcast_ids"] = list(stream.broadcast_ids or [])
    body["transcoded_qualities"] = list(stream.transcoded_qualities or [])
    body["html_overlays"] = [overlay_out(o) for o in stream.overlays]
    body["active_ingest_region_primary"] = None
    body["active_ingest_region_backup"] = None
    body.update(asdict(stream_urls(settings, stream.id, stream.token)))
    # No worker takes screenshots yet: hand out no URL that would answer 404.
    body["screenshot"] = None
    return body


def video_out(video: Video, settings: Settings) -> dict:
    base = f"{settings.http_base_url}/videos/{video.id}"
    playable = video.status == "ready"
    return {
        "id": video.id,
        "name": video.name,
        "description": video.description,
        "stream_id": video.stream_id,
        "status": video.status,
        "duration": video.duration,
        "origin_size": video.origin_size,
        "origin_video_duration": video.duration,
        "record_type": video.record_type,
        "projection": video.projection,
        "recording_started_at": iso(video.recording_started_at),
        "client_user_id": video.client_user_id,
        "error": video.error,
        "created_at": iso(video.created_at),
        "updated_at": iso(video.updated_at),
        "hls_url": f"{base}/master.m3u8" if playable else None,
        "hls_cmaf_url": f"{base}/master.m3u8" if playable else None,
        "dash_url": None,
        "iframe_url": f"{settings.http_base_url}/player/videos/{video.id}" if playable else None,
        "screenshots": [],
        "converted_videos": (
            [{"name": "origin", "width": video.width, "height": video.height,
              "status": "complete", "mp4_url": f"{base}/video.mp4", "size": video.origin_size}]
            if playable else []
        ),
    }
