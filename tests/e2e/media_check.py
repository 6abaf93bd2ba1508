"""What a player would decode from the newest LL-HLS segment: used to tell publishers apart."""

from __future__ import annotations

import io

import av
import httpx

from tests.support.hls import parse_media_playlist

PLAYLIST = "origin/index.m3u8"


def segment_maps(text: str) -> dict[str, str]:
    """Segment URI → the EXT-X-MAP (init segment) it is decoded with."""
    maps, current = {}, None
    for line in text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            current = line.split('URI="', 1)[1].split('"', 1)[0]
        elif line and not line.startswith("#"):
            maps[line] = current
    return maps


def newest_segment(http: httpx.Client, stream_id: int):
    """(playlist, frame size of the newest complete segment) or (playlist, None)."""
    response = http.get(f"/live/{stream_id}/{PLAYLIST}")
    if response.status_code != 200:
        return None, None
    playlist = parse_media_playlist(response.text)
    if not playlist.segments:
        return playlist, None
    uri = playlist.segments[-1].uri
    init = http.get(f"/live/{stream_id}/origin/{segment_maps(response.text)[uri]}")
    media = http.get(f"/live/{stream_id}/origin/{uri}")
    if init.status_code != 200 or media.status_code != 200:
        return playlist, None
    with av.open(io.BytesIO(init.content + media.content)) as container:
        frame = next(container.decode(video=0))
        return playlist, (frame.width, frame.height)
