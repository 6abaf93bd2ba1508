"""What each webhook says, in Gcore's shapes: `{"type": ..., "message": {<entity>: {...}}}`.

A stream's object carries the fields Gcore documents (`id`, `live`, `backup_live`,
`recording`, `client_user_id`, `client_entity_data`, `pull`, `uri`, `stream_source_type`)
plus `transcoding`, the flag of Gcore's lifecycle table. Its stages, in order:
ingest starts (live), output ready (live, transcoding: the master playlist answers 200),
recording starts (live, transcoding, recording), the stream stops (all false).
"""

from __future__ import annotations

import json
from typing import Any

from server.api.schemas import Restream as RestreamAnswer
from server.api.schemas import Video as VideoAnswer
from server.db.models import Restream, Stream, Video
from server.delivery.playback_tokens import PlaybackTokens
from server.settings import Settings
from server.urls import PlaybackToken, unsigned

# The stream's columns whose change can move it to another stage.
STAGE_FIELDS = frozenset({"live", "backup_live", "recording_video_id", "output_ready"})

Stage = tuple[bool, bool, bool, bool]  # live, backup_live, recording, transcoding


def stage_of(stream: Stream) -> Stage:
    """A stopped stream is all false, whatever a recording still being finalized says."""
    live = bool(stream.live)
    return (
        live,
        bool(stream.backup_live),
        live and stream.recording_video_id is not None,
        live and bool(stream.output_ready),
    )


def stream_message(stream: Stream) -> dict[str, Any]:
    live, backup_live, recording, transcoding = stage_of(stream)
    return {
        "stream": {
            "id": stream.id,
            "live": live,
            "backup_live": backup_live,
            "recording": recording,
            "transcoding": transcoding,
            "client_user_id": stream.client_user_id,
            "client_entity_data": stream.client_entity_data,
            "pull": stream.pull,
            "uri": stream.uri,
            "stream_source_type": stream.stream_source_type,
        }
    }


def video_message(video: Video, settings: Settings) -> dict[str, Any]:
    """The video as the API answers it (the SDK's `Video`). With signed playback its URLs
    carry a token (for no address in particular: with the address bound, the receiver mints
    its viewers' tokens itself and the URLs go unsigned)."""
    return {"video": VideoAnswer.of(video, settings, _receiver_playback(settings)).model_dump(mode="json")}


def _receiver_playback(settings: Settings) -> PlaybackToken:
    tokens = PlaybackTokens.from_settings(settings)
    if tokens is None or settings.playback_bind_address:
        return unsigned
    return tokens.token


def restream_message(restream: Restream) -> dict[str, Any]:
    """A restream as the API answers it (the SDK's `Restream`, with its `id`)."""
    return {"restream": RestreamAnswer.of(restream).model_dump(mode="json")}


def body(kind: str, message: dict[str, Any]) -> str:
    """The request body, compact JSON: stored as is, so the signature covers these bytes."""
    return json.dumps({"type": kind, "message": message}, separators=(",", ":"), ensure_ascii=False)
