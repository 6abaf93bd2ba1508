"""`/clips/<clip id>/…`: playback of instant clips (`server/media/clips.py`).

```
master.m3u8                 every rendition (a variant per rendition's recording, the audio once)
<n>/video.m3u8, <n>/audio.m3u8, <n>/video/<k>.m4s …   rendition n's recording, as a video's
clip.mp4                    the top rendition as one MP4 (`packager/vod_mp4.py`)
```

Each rendition is a recording, played by the video library's readers (`vod_library.load_video`)
and sent as `vod_http` sends a video's files. Until the clip's end has been copied every URL
answers 425 Too Early (the SDK's answer for the MP4; HLS too, rather than a growing EVENT
playlist, so that a clip's URLs are either all complete or all early); once expired, 404.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from packager.vod_hls import multi_variant_playlist
from packager.vod_tracks import read_init_facts
from server.delivery.live_routes import CORS
from server.delivery.vod_http import TEXT_CACHE, media_headers, refused_method, respond, send_file, send_mp4
from server.delivery.vod_library import VodVideo, load_video
from server.media.clips import Clip, Clips
from server.one_write_http import ZERO_COPY
from server.storage import LocalRecordingStorage
from server.urls import CLIP_MP4, CMAF_MASTER

PATH = re.compile(r"/clips/([A-Za-z0-9_-]{1,64})/(?:(\d{1,3})/)?((?:video/|audio/)?[A-Za-z0-9_]+\.[a-z0-9]+)")


class ClipHttp:
    """ASGI app for `/clips/…`. `clips()`: the node's clips (None before the node started)."""

    def __init__(self, clips: Callable[[], Clips | None]) -> None:
        self.clips = clips
        self.loaded: dict[str, tuple[dict[int, VodVideo], bytes]] = {}  # complete clips: renditions, master

    async def __call__(self, scope, receive, send) -> None:
        if await refused_method(scope, send):
            return None
        match = PATH.fullmatch(scope["path"])
        clips = self.clips()
        clip = clips.find(match.group(1)) if clips is not None and match is not None else None
        if clip is None or match is None:
            self._forget_expired(clips)
            return await respond(send, 404, CORS, b"no such clip\n")
        if not clip.complete:
            return await respond(send, 425, CORS, b"the clip is still being recorded\n")
        videos, master = await self._load(clip)
        if not videos:
            return await respond(send, 404, CORS, b"the clip is empty\n")
        number, name = match.group(2), match.group(3)
        body = scope["method"] == "GET"
        range_header = dict(scope.get("headers") or []).get(b"range")
        zero_copy = ZERO_COPY in (scope.get("extensions") or {})
        if number is None and name == CMAF_MASTER:
            return await respond(
                send, 200, CORS + media_headers(name, TEXT_CACHE), master if body else b"", len(master)
            )
        top = videos[min(videos)]
        if number is None and name == CLIP_MP4 and top.mp4 is not None:
            return await send_mp4(send, top.mp4, range_header, body, zero_copy, [])
        video = videos.get(int(number)) if number is not None else None
        text = video.texts.get(name) if video is not None else None
        if text is not None:
            return await respond(send, 200, CORS + media_headers(name, TEXT_CACHE), text if body else b"", len(text))
        found = video.files.get(name) if video is not None else None
        if found is None:
            return await respond(send, 404, CORS, b"no such file\n")
        path, size = found
        return await send_file(send, name, path, size, range_header, body, zero_copy)

    async def _load(self, clip: Clip) -> tuple[dict[int, VodVideo], bytes]:
        loaded = self.loaded.get(clip.id)
        if loaded is None:
            self._forget_expired(self.clips())
            loaded = self.loaded[clip.id] = await asyncio.to_thread(_read_clip, self.clips(), clip)
        return loaded

    def _forget_expired(self, clips: Clips | None) -> None:
        for clip_id in [c for c in self.loaded if clips is None or clips.find(c) is None]:
            del self.loaded[clip_id]


def _read_clip(clips: Clips | None, clip: Clip) -> tuple[dict[int, VodVideo], bytes]:
    """Blocking: each rendition's recording read as the video library reads a video's (a
    rendition the transcoder shed before the clip holds nothing and is left out)."""
    if clips is None:
        return {}, b""
    storage = LocalRecordingStorage(clips.root / clip.id)
    videos = {n: video for n in range(len(clip.renditions)) if (video := load_video(storage, str(n))) is not None}
    if not videos:
        return {}, b""
    master = multi_variant_playlist([(f"{n}/", v.recording, read_init_facts(v.recording)) for n, v in videos.items()])
    return videos, master.encode()
