"""Turns an RTMP publisher's media messages into the FLV byte stream a worker reads for its input.

It remembers the stream's metadata and codec sequence headers, so that an input started
mid-broadcast (a new worker after a crash or an idle stop, or a switch to this publisher)
is one the worker can decode: FLV header + metadata + sequence headers, then media from the
next video keyframe on.

Script tags go only into that prefix, as one `onMetaData` at timestamp 0. FFmpeg's FLV
demuxer turns any script tag with a non-zero timestamp (GStreamer's `flvmux` repeats
`onMetaData` every few seconds; `onTextData`, `onCuePoint`…) into a new subtitle or data
stream in the middle of the input, which the worker has no track for and which PyAV's demux
stumbles on (see `ingest/demuxed.py`). The worker packages audio and video only.
"""

from __future__ import annotations

from ingest.flv import flv_header, flv_tag, is_metadata, is_sequence_header, is_video_keyframe
from ingest.media import AUDIO, DATA, VIDEO, MediaMessage


class FlvFeed:
    format = "flv"

    def __init__(self) -> None:
        self.metadata: MediaMessage | None = None
        self.sequence_headers: dict[int, MediaMessage] = {}
        self.has_video = False
        self.waiting = True

    def restart(self) -> None:
        """Resume at the next keyframe, with the header and what it needs in front."""
        self.waiting = True

    def observe(self, message: MediaMessage) -> None:
        """Keep what a later restart needs (a publisher on standby is only observed): the
        latest `onMetaData`, restamped 0, and the latest sequence headers."""
        if is_metadata(message):
            self.metadata = MediaMessage(DATA, 0, message.payload)
        elif message.kind in (AUDIO, VIDEO):
            self.has_video |= message.kind == VIDEO
            if is_sequence_header(message):
                self.sequence_headers[message.kind] = message

    def bytes_for(self, message: MediaMessage) -> bytes:
        """The FLV tag for `message`; b"" while waiting for a keyframe, which then comes with
        the header, metadata and sequence headers in front; b"" for every script tag."""
        self.observe(message)
        if message.kind not in (AUDIO, VIDEO):
            return b""
        if not self.waiting:
            return flv_tag(message)
        if is_sequence_header(message):
            return b""  # cached: part of the prefix
        if is_video_keyframe(message) or (message.kind == AUDIO and not self.has_video):
            self.waiting = False
            return self._prefix() + flv_tag(message)
        return b""

    def _prefix(self) -> bytes:
        parts = [flv_header(audio=True, video=True)]
        if self.metadata is not None:
            parts.append(flv_tag(self.metadata))
        parts.extend(flv_tag(m) for m in self.sequence_headers.values())
        return b"".join(parts)
