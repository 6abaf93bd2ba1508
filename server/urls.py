"""The public URLs of a stream, built from settings.

One place builds them so that what the API hands to operators is exactly what the ingest
listeners and the delivery routes accept. The scheme (documented in the README):

- RTMP main   `rtmp://HOST:RTMP_PORT/in/<id>?<token>`, or `rtmps://HOST:RTMPS_PORT/in/<id>?<token>`
              once a certificate is configured (the plain listener still takes the rtmp:// form)
- RTMP backup the same with `backup` for `in`
- SRT main    `srt://HOST:SRT_PORT?streamid=in/<id>/<token>`
- SRT backup  `srt://HOST:SRT_PORT?streamid=backup/<id>/<token>`
- WHIP        `http://HOST:HTTP_PORT/whip/<id>` (token as `Authorization: Bearer <token>`)
- delivery    `/live/<id>/master.m3u8`, `/live/<id>/master_mpegts.m3u8`, `/live/<id>/index.mpd`,
              `/live/<id>/screenshot.jpg`, player `/player/<id>`
- clock       `http://HOST:HTTP_PORT/time` (the MPD's UTCTiming: absolute, as GStreamer needs)
- videos      `/videos/<id>_<slug>/master.m3u8`, `…/index.mpd`, `…/video.mp4`, `…/screenshot.jpg`,
              player `/player/videos/<id>_<slug>` (the slug: the recording's random key, so a
              video's URLs cannot be guessed from its id)
- clips       `/clips/<clip id>/master.m3u8`, `…/clip.mp4` (the id is random)

With signed playback on (`server/delivery/playback_tokens.py`), every playback URL carries a
token right after its prefix (`/live/<id>/t/<expires>/<signature>/master.m3u8`, the player
`/player/<id>/t/<expires>/<signature>`), from the `PlaybackToken` the caller passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.settings import Settings

MAIN_APP = "in"
BACKUP_APP = "backup"
CMAF_MASTER = "master.m3u8"
MPEGTS_MASTER = "master_mpegts.m3u8"
DASH_MANIFEST = "index.mpd"
SCREENSHOT = "screenshot.jpg"
UTC_TIMING_PATH = "/time"
VIDEO_PREFIX = "/videos/"
VIDEO_PLAYER_PREFIX = "/player/videos/"
VOD_MP4 = "video.mp4"
CLIP_PREFIX = "/clips/"
CLIP_MP4 = "clip.mp4"
MAX_STREAM_ID = 2**31 - 1  # streams.id is an Integer column: no stream has a larger id


def stream_number(text: str) -> int | None:
    """The stream id a URL names (`/live/<id>/…`, a publish's `<id>`), or None when it names
    none. ASCII digits only: `str.isdigit` also takes "²", which `int` refuses, and `int`
    refuses more than 4300 digits; both were errors where a client's bad URL should be "no
    such stream" (found by fuzz/targets/hls_query.py), as is an id no column holds."""
    if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_STREAM_ID)):
        number = int(text)
        return number if number <= MAX_STREAM_ID else None
    return None


PlaybackToken = Callable[[str], str]
"""The token path segment (`t/<expires>/<signature>/`) for a playback prefix (`/live/42/`),
"" when signed playback is off."""


def unsigned(prefix: str) -> str:
    return ""


def player_url(base: str, token: str) -> str:
    """A player page's URL: the token of its media's prefix, after the page's path."""
    return f"{base}/{token.rstrip('/')}" if token else base


@dataclass(frozen=True)
class StreamUrls:
    push_url: str
    backup_push_url: str
    push_url_srt: str
    backup_push_url_srt: str
    push_url_whip: str
    hls_cmaf_url: str
    hls_mpegts_url: str
    dash_url: str
    iframe_url: str
    screenshot: str


def utc_timing_url(settings: Settings) -> str:
    """Where DASH players read the node's clock (urn:mpeg:dash:utc:http-iso:2014)."""
    return f"{settings.http_base_url}{UTC_TIMING_PATH}"


def srt_stream_id(app: str, stream_id: int, token: str) -> str:
    return f"{app}/{stream_id}/{token}"


def rtmp_base(settings: Settings) -> str:
    """Where encoders push RTMP: over TLS whenever the node has a certificate, since an
    operator pastes the URL the API hands out into the encoder as it is."""
    if settings.rtmps_enabled:
        return f"rtmps://{settings.public_host}:{settings.rtmps_port}"
    return f"rtmp://{settings.public_host}:{settings.rtmp_port}"


def stream_urls(settings: Settings, stream_id: int, token: str, playback: PlaybackToken) -> StreamUrls:
    """`token`: the stream's publishing token; `playback`: signs the playback URLs."""
    host = settings.public_host
    rtmp = rtmp_base(settings)
    srt = f"srt://{host}:{settings.srt_port}?streamid="
    http = settings.http_base_url
    prefix = f"/live/{stream_id}/"
    signed = playback(prefix)
    live = f"{http}{prefix}{signed}".rstrip("/")
    return StreamUrls(
        push_url=f"{rtmp}/{MAIN_APP}/{stream_id}?{token}",
        backup_push_url=f"{rtmp}/{BACKUP_APP}/{stream_id}?{token}",
        push_url_srt=srt + srt_stream_id(MAIN_APP, stream_id, token),
        backup_push_url_srt=srt + srt_stream_id(BACKUP_APP, stream_id, token),
        push_url_whip=f"{http}/whip/{stream_id}",
        hls_cmaf_url=f"{live}/{CMAF_MASTER}",
        hls_mpegts_url=f"{live}/{MPEGTS_MASTER}",
        dash_url=f"{live}/{DASH_MANIFEST}",
        iframe_url=player_url(f"{http}/player/{stream_id}", signed),
        screenshot=f"{live}/{SCREENSHOT}",
    )


@dataclass(frozen=True)
class VideoUrls:
    hls_url: str
    dash_url: str
    mp4_url: str
    iframe_url: str
    screenshot: str


def video_ref(video_id: int, slug: str) -> str:
    """How a video is named in its public URLs: `<id>_<slug>`, as Gcore's `<client>_<slug>`."""
    return f"{video_id}_{slug}"


def video_urls(settings: Settings, video_id: int, slug: str, playback: PlaybackToken) -> VideoUrls:
    http = settings.http_base_url
    prefix = f"{VIDEO_PREFIX}{video_ref(video_id, slug)}/"
    signed = playback(prefix)
    base = f"{http}{prefix}{signed}".rstrip("/")
    return VideoUrls(
        hls_url=f"{base}/{CMAF_MASTER}",
        dash_url=f"{base}/{DASH_MANIFEST}",
        mp4_url=f"{base}/{VOD_MP4}",
        iframe_url=player_url(f"{http}{VIDEO_PLAYER_PREFIX}{video_ref(video_id, slug)}", signed),
        screenshot=f"{base}/{SCREENSHOT}",
    )


@dataclass(frozen=True)
class ClipUrls:
    hls_master: str
    mp4_master: str


def clip_urls(settings: Settings, clip_id: str, playback: PlaybackToken) -> ClipUrls:
    """A clip's URLs: its id is random, so they cannot be guessed."""
    prefix = f"{CLIP_PREFIX}{clip_id}/"
    base = f"{settings.http_base_url}{prefix}{playback(prefix)}".rstrip("/")
    return ClipUrls(hls_master=f"{base}/{CMAF_MASTER}", mp4_master=f"{base}/{CLIP_MP4}")
