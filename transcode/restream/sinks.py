"""Where a restream's muxer writes: file objects that PyAV's `flv` and `mpegts` muxers write
into, sending on the target's connection.

PyAV flushes its buffer into `write` after every packet on a non-seekable output, so each
call carries about one packet. `write` never raises (an exception inside PyAV's I/O callback
would come back as an FFmpeg error naming the output): it keeps the first error, and the
target raises it after the mux (`check`).
"""

from __future__ import annotations

import ctypes

from ingest.rtmp import amf0
from ingest.srt import libsrt
from transcode.restream.rtmp_publish import DATA, RtmpPublisher

FLV_HEADER = 9 + 4  # the file header and the first PreviousTagSize
TAG_HEADER = 11
SET_DATA_FRAME = amf0.encode("@setDataFrame")  # how a publisher sends onMetaData over RTMP
TS_MESSAGE = 7 * 188  # one SRT live-mode message: 1316 bytes


class Sink:
    def __init__(self) -> None:
        self.error: OSError | None = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def restart(self) -> None:
        """A new muxer writes from here on (its header first)."""


class FlvToRtmp(Sink):
    """FLV from the muxer, each tag sent as one RTMP message (audio, video, script data)."""

    def __init__(self, publisher: RtmpPublisher) -> None:
        super().__init__()
        self.publisher = publisher
        self.buffer = bytearray()
        self.header_skipped = False

    def restart(self) -> None:
        self.buffer.clear()
        self.header_skipped = False

    def write(self, data: bytes) -> int:
        if self.error is None:
            self.buffer += data
            try:
                self._send_tags()
            except OSError as error:
                self.error = error
        return len(data)

    def _send_tags(self) -> None:
        buffer = self.buffer
        if not self.header_skipped:
            if len(buffer) < FLV_HEADER:
                return
            del buffer[:FLV_HEADER]
            self.header_skipped = True
        offset = 0
        while len(buffer) - offset >= TAG_HEADER:
            tag_type = buffer[offset] & 0x1F
            size = int.from_bytes(buffer[offset + 1 : offset + 4], "big")
            end = offset + TAG_HEADER + size + 4
            if len(buffer) < end:
                break
            timestamp = int.from_bytes(buffer[offset + 4 : offset + 7], "big") | (buffer[offset + 7] << 24)
            payload = bytes(buffer[offset + TAG_HEADER : end - 4])
            if tag_type == DATA:
                payload = SET_DATA_FRAME + payload
            self.publisher.send(tag_type, timestamp, payload)
            offset = end
        del buffer[:offset]


class TsToSrt(Sink):
    """MPEG-TS from the muxer, sent in SRT live-mode messages of 7 TS packets."""

    def __init__(self, sock: int) -> None:
        super().__init__()
        self.sock = sock
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        if self.error is None:
            self.buffer += data
            try:
                self._send(whole=len(self.buffer) - len(self.buffer) % TS_MESSAGE)
            except OSError as error:
                self.error = error
        return len(data)

    def flush_packets(self) -> None:
        """Send the whole TS packets left (at the end of a batch), in a shorter message."""
        if self.error is None:
            try:
                self._send(whole=len(self.buffer) - len(self.buffer) % 188)
            except OSError as error:
                self.error = error

    def _send(self, whole: int) -> None:
        """Each message straight from the buffer (its address: no copy per message)."""
        if not whole:
            return
        exported = (ctypes.c_char * whole).from_buffer(self.buffer)
        try:
            address = ctypes.addressof(exported)
            for offset in range(0, whole, TS_MESSAGE):
                size = min(TS_MESSAGE, whole - offset)
                libsrt.check(libsrt.lib.srt_send(self.sock, address + offset, size), "srt_send")
        finally:
            del exported  # the buffer can change size again
        del self.buffer[:whole]
