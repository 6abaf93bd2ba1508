"""What the control API answers: pydantic models with the fields and types of the official
Gcore SDK's response types (`gcore.types.streaming`: Stream, Overlay, QualitySets, Video, Clip),
built from DB rows. Routes declare them as `response_model`, so `/openapi.json` describes
exactly what is returned; `tests/api/test_schemas.py` checks every SDK field is here.

A field Headwater has no use for yet (a video's `poster`, `views`, …) is still present, null
or zero, as Gcore answers for an entity without it. Fields beyond the SDK's are Headwater's
own (`source_error`, `source_warning`; a quality's encoding).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from server.db import models
from server.delivery.screenshots import screenshot_file
from server.settings import Settings
from server.urls import PlaybackToken, clip_urls, stream_urls, video_urls

if TYPE_CHECKING:
    from server.media.clips import Clip as ClipState

Projection = Literal["regular", "vr360", "vr180", "vr360tb"]
RecordType = Literal["origin", "transcoded"]
# Gcore's four, and `rtsp` for a stream pulled over RTSP (Gcore says `https` for any pull).
SourceType = Literal["rtmp", "srt", "webrtc", "https", "rtsp"]
VideoStatus = Literal["empty", "pending", "viewable", "ready", "error"]


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as Gcore writes datetimes (SQLite returns naive UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Overlay(BaseModel):
    id: int
    stream_id: int
    url: str
    width: int | None
    height: int | None
    x: int | None
    y: int | None
    stretch: bool
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, overlay: models.Overlay) -> Overlay:
        return cls(
            id=overlay.id,
            stream_id=overlay.stream_id,
            url=overlay.url,
            width=overlay.width,
            height=overlay.height,
            x=overlay.x,
            y=overlay.y,
            stretch=overlay.stretch,
            created_at=iso(overlay.created_at) or "",
            updated_at=iso(overlay.updated_at) or "",
        )


class Stream(BaseModel):
    id: int
    name: str
    token: str
    active: bool
    pull: bool
    uri: str | None
    dvr_enabled: bool
    dvr_duration: int
    auto_record: bool
    record_type: RecordType
    projection: Projection
    html_overlay: bool
    html_overlays: list[Overlay]
    hls_mpegts_endlist_tag: bool
    quality_set_id: int | None
    client_user_id: int | None
    client_entity_data: str | None
    srt_passphrase: str | None
    cdn_id: int | None
    broadcast_ids: list[int]
    created_at: str | None
    # live status, written by the node from its workers' events
    live: bool
    backup_live: bool
    stream_source_type: SourceType | None
    started_at_primary: str | None
    started_at_backup: str | None
    finished_at_primary: str | None
    transcoding_speed: float | None
    frame_rate: float | None
    video_width: int | None
    video_height: int | None
    transcoded_qualities: list[str]
    recording_duration: float | None
    active_ingest_region_primary: str | None
    active_ingest_region_backup: str | None
    # Headwater's: why the source fails; what in it most players cannot decode
    source_error: str | None
    source_warning: str | None
    # where to push and where to play
    push_url: str
    backup_push_url: str
    push_url_srt: str
    backup_push_url_srt: str
    push_url_whip: str
    hls_cmaf_url: str
    hls_mpegts_url: str
    dash_url: str
    iframe_url: str
    screenshot: str | None

    @classmethod
    def of(cls, stream: models.Stream, settings: Settings, playback: PlaybackToken) -> Stream:
        """`playback`: signs the playback URLs (signed playback)."""
        urls = stream_urls(settings, stream.id, stream.token, playback)
        return cls(
            id=stream.id,
            name=stream.name,
            token=stream.token,
            active=stream.active,
            pull=stream.pull,
            uri=stream.uri,
            dvr_enabled=stream.dvr_enabled,
            dvr_duration=stream.dvr_duration,
            auto_record=stream.auto_record,
            record_type=stream.record_type,  # type: ignore[arg-type]
            projection=stream.projection,  # type: ignore[arg-type]
            html_overlay=stream.html_overlay,
            html_overlays=[Overlay.of(o) for o in stream.overlays],
            hls_mpegts_endlist_tag=stream.hls_mpegts_endlist_tag,
            quality_set_id=stream.quality_set_id,
            client_user_id=stream.client_user_id,
            client_entity_data=stream.client_entity_data,
            srt_passphrase=stream.srt_passphrase,
            cdn_id=stream.cdn_id,
            broadcast_ids=list(stream.broadcast_ids or []),
            created_at=iso(stream.created_at),
            live=stream.live,
            backup_live=stream.backup_live,
            stream_source_type=stream.stream_source_type,  # type: ignore[arg-type]
            started_at_primary=iso(stream.started_at_primary),
            started_at_backup=iso(stream.started_at_backup),
            finished_at_primary=iso(stream.finished_at_primary),
            transcoding_speed=stream.transcoding_speed,
            frame_rate=stream.frame_rate,
            video_width=stream.video_width,
            video_height=stream.video_height,
            transcoded_qualities=list(stream.transcoded_qualities or []),
            recording_duration=stream.recording_duration,
            active_ingest_region_primary=None,
            active_ingest_region_backup=None,
            source_error=stream.source_error,
            source_warning=stream.source_warning,
            push_url=urls.push_url,
            backup_push_url=urls.backup_push_url,
            push_url_srt=urls.push_url_srt,
            backup_push_url_srt=urls.backup_push_url_srt,
            push_url_whip=urls.push_url_whip,
            hls_cmaf_url=urls.hls_cmaf_url,
            hls_mpegts_url=urls.hls_mpegts_url,
            dash_url=urls.dash_url,
            iframe_url=urls.iframe_url,
            # none taken yet (or no video): hand out no URL that would answer 404
            screenshot=urls.screenshot if screenshot_file(settings.screenshot_dir, stream.id).exists() else None,
        )


class RecordingStream(BaseModel):
    id: int


class RecordingStarted(BaseModel):
    stream: RecordingStream


class StreamStartRecordingResponse(BaseModel):
    """`PUT …/start_recording`'s answer, as the SDK's `StreamStartRecordingResponse`."""

    data: RecordingStarted
    errors: list[str] = []
    warnings: list[str] = []  # Gcore's storage quota warnings: a node has no quota

    @classmethod
    def of(cls, stream_id: int) -> StreamStartRecordingResponse:
        return cls(data=RecordingStarted(stream=RecordingStream(id=stream_id)))


class Quality(BaseModel):
    """One rung of a ladder: Gcore's `id` and `name`, and Headwater's encoding of it."""

    id: int
    name: str
    width: int
    height: int
    video_bitrate: int  # kbit/s
    audio_bitrate: int  # kbit/s
    max_frame_rate: float

    @classmethod
    def of(cls, quality: models.Quality) -> Quality:
        return cls(
            id=quality.id,
            name=quality.name,
            width=quality.width,
            height=quality.height,
            video_bitrate=quality.video_bitrate,
            audio_bitrate=quality.audio_bitrate,
            max_frame_rate=quality.max_frame_rate,
        )


class QualitySet(BaseModel):
    id: int
    name: str
    default: bool
    qualities: list[Quality]

    @classmethod
    def of(cls, quality_set: models.QualitySet) -> QualitySet:
        return cls(
            id=quality_set.id,
            name=quality_set.name,
            default=quality_set.is_default,
            qualities=[Quality.of(q) for q in quality_set.qualities],
        )


class QualitySets(BaseModel):
    live: list[QualitySet]
    vod: list[QualitySet]

    @classmethod
    def of(cls, sets: list[models.QualitySet]) -> QualitySets:
        return cls(
            live=[QualitySet.of(s) for s in sets if s.kind == "live"],
            vod=[QualitySet.of(s) for s in sets if s.kind == "vod"],
        )


class ConvertedVideo(BaseModel):
    id: int | None = None
    name: str
    width: int | None
    height: int | None
    status: Literal["processing", "complete", "error"]
    progress: int
    error: str | None = None
    size: int | None
    mp4_url: str | None


class Video(BaseModel):
    id: int
    name: str
    description: str | None
    stream_id: int | None
    status: VideoStatus
    duration: int | None  # milliseconds
    origin_size: int | None
    origin_video_duration: int | None
    record_type: RecordType | None
    projection: str
    recording_started_at: str | None
    client_user_id: int | None
    error: str | None
    created_at: str | None
    updated_at: str | None
    hls_url: str | None
    hls_cmaf_url: str | None
    dash_url: str | None
    iframe_url: str | None
    screenshots: list[str]
    converted_videos: list[ConvertedVideo]
    # Gcore fields of uploaded VOD that a recording does not have (yet)
    ad_id: int | None = None
    cdn_views: int = 0
    views: int = 0
    client_id: int | None = None
    custom_iframe_url: str | None = None
    directory_id: int | None = None
    origin_url: str | None = None
    poster: str | None = None
    poster_thumb: str | None = None
    priority: int = 0
    quality_set_id: int | None = None
    screenshot: str | None = None
    screenshot_id: int | None = None
    share_url: str | None = None
    slug: str | None = None
    sprite: str | None = None
    sprite_vtt: str | None = None

    @classmethod
    def of(
        cls, video: models.Video, settings: Settings, playback: PlaybackToken, *, has_screenshot: bool = False
    ) -> Video:
        """URLs only for a `ready` video with a recording (null otherwise, as Gcore does);
        `has_screenshot`: the recording holds a `screenshot.jpg`."""
        urls = video_urls(settings, video.id, video.recording_key, playback) if video.recording_key else None
        playable = urls if video.status == "ready" else None
        screenshot = playable.screenshot if playable and has_screenshot else None
        converted = (
            [
                ConvertedVideo(
                    name="origin",
                    width=video.width,
                    height=video.height,
                    status="complete",
                    progress=100,
                    size=video.origin_size,
                    mp4_url=playable.mp4_url,
                )
            ]
            if playable
            else []
        )
        return cls(
            id=video.id,
            name=video.name,
            description=video.description,
            stream_id=video.stream_id,
            status=video.status,  # type: ignore[arg-type]
            duration=video.duration,
            origin_size=video.origin_size,
            origin_video_duration=video.duration,
            record_type=video.record_type,  # type: ignore[arg-type]
            projection=video.projection,
            recording_started_at=iso(video.recording_started_at),
            client_user_id=video.client_user_id,
            error=video.error,
            created_at=iso(video.created_at),
            updated_at=iso(video.updated_at),
            hls_url=playable.hls_url if playable else None,
            hls_cmaf_url=playable.hls_url if playable else None,
            dash_url=playable.dash_url if playable else None,
            iframe_url=playable.iframe_url if playable else None,
            origin_url=playable.mp4_url if playable else None,
            screenshot=screenshot,
            screenshots=[screenshot] if screenshot else [],
            slug=video.recording_key,
            converted_videos=converted,
        )


class Clip(BaseModel):
    """The SDK's `Clip`."""

    id: str
    duration: int
    created_at: str | None
    expiration: int | None
    hls_master: str | None
    mp4_master: str | None
    renditions: list[str] | None
    start: int | None
    video_id: int | None
    vod_required: bool | None

    @classmethod
    def of(cls, clip: ClipState, settings: Settings, playback: PlaybackToken) -> Clip:
        urls = clip_urls(settings, clip.id, playback)
        return cls(
            id=clip.id,
            duration=clip.duration,
            created_at=iso(datetime.fromtimestamp(clip.created_at, UTC)),
            expiration=clip.expiration,
            hls_master=urls.hls_master,
            mp4_master=urls.mp4_master,
            renditions=[str(height) for height in clip.heights],
            start=clip.start,
            video_id=clip.video_id,
            vod_required=clip.vod_required,
        )


class Restream(BaseModel):
    """Gcore's `Restream`. `source` is always "original" (the origin as received); `client_id`,
    `playlist_id` and `quality_id` are null (no accounts, playlists or per-quality sources)."""

    id: int
    name: str
    stream_id: int
    uri: str
    active: bool
    live: bool
    no_audio: bool
    no_audio_mode: Literal["drop", "silence"]
    client_user_id: int | None
    source: Literal["original", "transcoded"] = "original"
    client_id: int | None = None
    playlist_id: int | None = None
    quality_id: int | None = None

    @classmethod
    def of(cls, restream: models.Restream) -> Restream:
        return cls(
            id=restream.id,
            name=restream.name,
            stream_id=restream.stream_id,
            uri=restream.uri,
            active=restream.active,
            live=restream.live,
            no_audio=restream.no_audio,
            no_audio_mode="silence" if restream.no_audio_mode == "silence" else "drop",
            client_user_id=restream.client_user_id,
        )
