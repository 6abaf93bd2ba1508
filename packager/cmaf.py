"""CMAF fragments from PyAV's `mp4` muxer: one muxer per track, its output split into boxes.

The muxer writes to a write-only Python object (`BoxSplitter`), so it never seeks and streams
fragments as it cuts them: `ftyp`+`moov` is the init segment, each `moof`+`mdat` pair is one
fragment, the trailing `mfra` is dropped.

One fragment per frame (`frag_every_frame`): the muxer's own `frag_duration` cutting can only
cut at the first frame *past* the duration and restarts at every keyframe, which gives parts
longer than the part target or 1-frame slivers before mid-segment keyframes. With a fragment
per frame, the packager groups frames into parts itself (exact part durations, parts never
above the target, segment cuts exactly where it decides). A frame's fragment comes out when
the next frame is muxed, with its exact duration (the next dts − its dts).

`delay_moov`: the init segment (ftyp+moov) is written with the first fragment instead of at
open, so a template without extradata (an encoder's stream without global header, H.264 with
in-band SPS/PPS) still gets a real avcC built from the first keyframe.

Timestamps: the mp4 muxer rebases each track so its first sample starts at 0 — fatal for A/V
sync when every track has its own muxer. `frag_discont` makes it keep the input timeline
instead; in that mode it anchors the *decode* timeline on the first packet's pts, so a video
track whose first packet has pts > dts (B-frames) comes out shifted by that difference.
`TrackFragmenter` subtracts that difference from its input so the output presentation
timestamps equal the input ones (tested by decoding the output).
"""

from __future__ import annotations

from typing import Callable

import av

from packager.isobmff import BoxError, TrackInfo, parse_init, read_box_header
from packager.moof import Fragment, parse_fragment

MOVFLAGS = "frag_every_frame+empty_moov+delay_moov+default_base_moof+cmaf+frag_discont"
VIDEO_TIMESCALE = 90000
MAX_INTERLEAVE_DELTA_US = 100_000


class BoxSplitter:
    """Write-only file object that cuts the muxer's byte stream at top-level box boundaries.

    Calls `on_init(bytes)` once with ftyp+moov and `on_fragment(bytes)` per moof+mdat pair.
    Boxes other than these (mfra, free, udta at the end) are dropped.
    """

    def __init__(self, on_init: Callable[[bytes], None], on_fragment: Callable[[bytes], None]) -> None:
        self._on_init = on_init
        self._on_fragment = on_fragment
        self._buffer = bytearray()
        self._init_parts: list[bytes] = []
        self._pending_moof: bytes | None = None
        self.init_done = False

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._drain()
        return len(data)

    def flush(self) -> None:
        """File-like no-op: complete boxes are handed on as soon as they arrive."""

    def _drain(self) -> None:
        offset = 0
        while True:
            header = read_box_header(self._buffer, offset)
            if header is None or header.end > len(self._buffer):
                break
            self._take_box(header.type, bytes(self._buffer[offset : header.end]))
            offset = header.end
        if offset:
            del self._buffer[:offset]

    def _take_box(self, box_type: str, box: bytes) -> None:
        if not self.init_done:
            if box_type in ("ftyp", "moov"):
                self._init_parts.append(box)
                if box_type == "moov":
                    self.init_done = True
                    self._on_init(b"".join(self._init_parts))
                return
            raise BoxError(f"unexpected {box_type} before moov")
        if box_type in ("styp", "sidx", "prft"):
            return
        if box_type == "moof":
            self._pending_moof = box
        elif box_type == "mdat":
            if self._pending_moof is None:
                raise BoxError("mdat without moof")
            self._on_fragment(self._pending_moof + box)
            self._pending_moof = None

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet handed on (a test hook: 0 after a clean close)."""
        return len(self._buffer) + len(self._pending_moof or b"")


class _NullSink:
    def write(self, data: bytes) -> int:
        return len(data)


class StreamTemplate:
    """A private copy of a stream's codec parameters that outlives the caller's container.

    Templates come from the worker's demuxer (or encoder); after a source switch that
    container may be closed and its streams freed, and a new muxer made from a dead stream
    crashes the process. This copy lives in a never-started mp4 container of our own.
    """

    def __init__(self, template: av.stream.Stream) -> None:
        self._holder = av.open(_NullSink(), mode="w", format="mp4")
        self.stream = self._holder.add_stream_from_template(template)
        self.type = template.type
        self.time_base = template.time_base
        context = template.codec_context
        self.codec_name = context.name
        self.width = getattr(context, "width", None)
        self.height = getattr(context, "height", None)
        self.frame_rate = getattr(template, "average_rate", None)
        self.sample_rate = getattr(context, "sample_rate", None)
        layout = getattr(context, "layout", None)
        self.channels = getattr(layout, "nb_channels", None) or getattr(context, "channels", None)


class TrackFragmenter:
    """One track through one `mp4` muxer: packets in, init segment and fragments out.

    The muxer is opened on the first packet: the timestamp compensation comes from its
    pts − dts.
    """

    def __init__(
        self,
        template: StreamTemplate,
        on_init: Callable[[bytes, TrackInfo], None],
        on_fragment: Callable[[Fragment], None],
    ) -> None:
        self._template = template
        self._on_init = on_init
        self._on_fragment = on_fragment
        self._container: av.container.OutputContainer | None = None
        self._stream: av.stream.Stream | None = None
        self._splitter = BoxSplitter(self._take_init, self._take_fragment)
        self._info: TrackInfo | None = None
        self._compensation = 0  # in the input packets' time base ticks
        self._strip_adts = False
        self.is_video = template.type == "video"

    def mux(self, packet: av.Packet) -> None:
        """Mux a packet this fragmenter owns (the caller hands over a private copy)."""
        if self._container is None:
            self._open(packet)
        if self._strip_adts:
            packet = _without_adts_header(packet)
        if self._compensation:
            packet.pts = None if packet.pts is None else packet.pts - self._compensation
            packet.dts = None if packet.dts is None else packet.dts - self._compensation
        packet.stream = self._stream
        self._container.mux(packet)

    def close(self) -> None:
        """Flush the last fragment (its last sample's duration is the packet's duration)."""
        if self._container is not None:
            self._container.close()
            self._container = None

    @property
    def info(self) -> TrackInfo | None:
        return self._info

    def _open(self, first: av.Packet) -> None:
        options = {
            "movflags": MOVFLAGS,
            "max_interleave_delta": str(MAX_INTERLEAVE_DELTA_US),
        }
        if self.is_video:
            options["video_track_timescale"] = str(VIDEO_TIMESCALE)
            if first.pts is not None and first.dts is not None and first.pts > first.dts:
                self._compensation = first.pts - first.dts
        self._container = av.open(self._splitter, mode="w", format="mp4", options=options)
        self._stream = self._container.add_stream_from_template(self._template.stream)
        config = adts_audio_specific_config(bytes(first)) if self._template.codec_name == "aac" else None
        if config is not None:
            # AAC from MPEG-TS comes with ADTS headers; MP4 wants raw frames + the config in esds
            # (the header is written before any packet, so the muxer's own filter is too late).
            self._strip_adts = True
            self._stream.codec_context.extradata = config

    def _take_init(self, data: bytes) -> None:
        self._info = parse_init(data)
        self._on_init(data, self._info)

    def _take_fragment(self, data: bytes) -> None:
        assert self._info is not None, "fragment before init"
        self._on_fragment(parse_fragment(data, self._info.default_sample_duration, self._info.default_sample_flags))



def adts_audio_specific_config(frame: bytes) -> bytes | None:
    """The 2-byte AudioSpecificConfig for an ADTS-framed AAC frame, None if not ADTS."""
    if len(frame) < 7 or frame[0] != 0xFF or frame[1] & 0xF6 != 0xF0:
        return None
    object_type = (frame[2] >> 6) + 1
    frequency_index = (frame[2] >> 2) & 0x0F
    channels = ((frame[2] & 0x01) << 2) | (frame[3] >> 6)
    value = (object_type << 11) | (frequency_index << 7) | (channels << 3)
    return value.to_bytes(2, "big")


def _without_adts_header(packet: av.Packet) -> av.Packet:
    data = bytes(packet)
    if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF6 != 0xF0:
        return packet
    header = 7 if data[1] & 0x01 else 9
    stripped = av.Packet(data[header:])
    stripped.pts, stripped.dts, stripped.duration = packet.pts, packet.dts, packet.duration
    stripped.time_base = packet.time_base
    stripped.is_keyframe = packet.is_keyframe
    return stripped
