"""Turns a publisher's media messages into the FLV byte stream a worker reads on stdin.

It remembers the stream's header, metadata and codec sequence headers, so that a worker
started mid-broadcast (after a crash, or after an idle stop) gets a stream it can decode:
header + sequence headers, then media from the next video keyframe on.
"""

from __future__ import annotations

from ingest.flv import flv_header, flv_tag, is_sequence_header, is_video_keyframe
from ingest.media import AUDIO, DATA, VIDEO, MediaMessage


class FlvFeed:
    def __init__(self) -> None:
        self.metadata: MediaMessage | None = None
        self.sequence_headers: dict[int, MediaMessage] = {}
        self.has_video = False
        self.waiting_for_keyframe = True

    def restart(self) -> bytes:
        """The bytes a fresh worker needs first; media then resumes at a keyframe."""
        self.waiting_for_keyframe = True
        prefix = [flv_header(audio=True, video=True)]
        if self.metadata is not None:
            prefix.append(flv_tag(self.metadata))
        prefix.extend(flv_tag(m) for m in self.sequence_headers.values())
        return b"".join(prefix)

    def bytes_for(self, message: MediaMessage) -> bytes:
        """The FLV tag for `message`, or b"" while a restarted worker waits for a keyframe."""
        if message.kind == DATA:
            self.metadata = message
            return flv_tag(message)
        if message.kind not in (AUDIO, VIDEO):
            return b""
        if message.kind == VIDEO:
            self.has_video = True
        if is_sequence_header(message):
            self.sequence_headers[message.kind] = message
            return flv_tag(message)
        if self.waiting_for_keyframe:
            if message.kind == VIDEO and is_video_keyframe(message):
                self.waiting_for_keyframe = False
            elif message.kind == AUDIO and not self.has_video:
                self.waiting_for_keyframe = False
            else:
                return b""
        return flv_tag(message)
