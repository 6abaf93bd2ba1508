"""CMAF fragments built straight from the packets; PyAV's `mp4` muxer only writes the init segment.

Why not mux every frame: the muxer's own `frag_duration` cutting can only cut at the first frame
*past* the duration and restarts at every keyframe (parts above the part target, 1-frame slivers
before mid-segment keyframes), and muxing each frame with `frag_every_frame` and parsing the
result back cost more CPU than the rest of the packager. So the packager groups frames into
parts itself and writes the boxes: a `Fragment` per frame here (its timing in the track's
timescale and its sample bytes), joined into one moof+mdat per part by `moof.build_fragment`.
A frame's fragment comes out when the next frame arrives, with its exact duration (the next
dts − its dts), the last one on `close` with its packet's duration.

The init segment (ftyp+moov with avcC/esds, the timescale) still comes from the muxer: the
first packet is muxed into a throwaway `mp4` muxer, which is closed at once; the ftyp+moov it
writes (`delay_moov`: built with the first packet, so a template without extradata, an
encoder's H.264 with in-band SPS/PPS, still gets a real avcC) is kept, its fragment dropped.

Sample bytes: MP4 wants length-prefixed NAL units and raw AAC frames. H.264/HEVC from FLV is
length-prefixed already; from MPEG-TS or an encoder without global header it is Annex B and is
converted here (4-byte lengths, as the muxer's avcC says). ADTS headers are stripped and their
AudioSpecificConfig goes into the esds.

AAC: the AudioSpecificConfig (the extradata, or the first frame's ADTS header) is the truth,
not the stream's parameters (`packager.aac`: FLV says 44.1 kHz stereo for every AAC stream).
The muxer's stream is given its rate and channels before the init is written, so the track
timescale is the sample rate and mp4a's channelcount/samplerate are the config's; each frame
then lasts exactly its frame length (1024 ticks) — `FrameClock` places it one frame after the
previous one, back on the input's time only when that is more than half a frame away (a gap,
a drifting encoder clock). Millisecond timestamps (FLV) would otherwise make frames of
21/22 ms, i.e. 1008/1056 ticks at 48 kHz.

Timestamps: samples keep the input timeline (tfdt = dts, rescaled to the track timescale as
the muxer rounds them; AAC within half a frame of it), so separate tracks stay in sync.
Composition offsets are the muxer's CMAF ones (signed, version-1 trun): pts − dts minus the
first sample's pts − dts, so the first frame presents at its decode time, which is what the
muxer's moov (no edit list) announces.
The init's muxer sees the first packet shifted by that difference (with `frag_discont` it
anchors its decode timeline on the first pts), so its moov is the one it writes for a stream.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple, cast

import av

from packager.aac import AacConfig, try_parse_audio_specific_config
from packager.isobmff import BoxError, TrackInfo, parse_init, read_box_header
from packager.moof import (
    SAMPLE_DEPENDS_ON_NONE,
    SAMPLE_DEPENDS_ON_OTHERS,
    SAMPLE_IS_NON_SYNC,
    Fragment,
    TrunSample,
)

MOVFLAGS = "frag_every_frame+empty_moov+delay_moov+default_base_moof+cmaf+frag_discont"
VIDEO_TIMESCALE = 90000
SYNC_FLAGS = SAMPLE_DEPENDS_ON_NONE
NON_SYNC_FLAGS = SAMPLE_DEPENDS_ON_OTHERS | SAMPLE_IS_NON_SYNC
START_CODE = b"\x00\x00\x01"
LENGTH_PREFIXED_CODECS = ("h264", "hevc")
TRACK_ID = 1  # the muxer's single track, as its moov numbers it


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
        self.codec_id = context.codec.canonical_name  # "h264" also for a libx264 template
        self.extradata = bytes(context.extradata or b"")
        self.width = getattr(context, "width", None)
        self.height = getattr(context, "height", None)
        self.frame_rate = getattr(template, "average_rate", None)
        self.sample_rate = getattr(context, "sample_rate", None)
        layout = getattr(context, "layout", None)
        self.channels = getattr(layout, "nb_channels", None) or getattr(context, "channels", None)
        self.aac = try_parse_audio_specific_config(self.extradata) if self.codec_name == "aac" else None
        if self.aac is not None:  # the config, not FLV's 44.1 kHz stereo (MPEG-TS: no config yet)
            self.sample_rate = self.aac.sample_rate
            self.channels = self.aac.channel_count or self.channels
        self.reformatted = False  # width, height, extradata differ from the stream's

    def with_format(self, width: int, height: int, extradata: bytes) -> StreamTemplate:
        """The same stream after an in-band format change: another picture size and other
        parameter sets (see `packager/parameter_sets.py`); init segments get them."""
        changed = copy.copy(self)
        changed.width, changed.height, changed.extradata = width, height, bytes(extradata)
        changed.reformatted = True
        return changed


class Frame(NamedTuple):
    """A packet as the fragmenter takes it: its bytes, and its timing in `time_base` ticks.

    Plain values rather than an av.Packet: a Packet copy, and a Fraction for every time_base
    read, cost more than the fragmenting itself.
    """

    data: bytes
    pts: int
    dts: int
    duration: int
    time_base: tuple[int, int]  # (numerator, denominator)
    keyframe: bool


class TrackFragmenter:
    """One track: packets in (decode order), its init segment and one `Fragment` per frame out."""

    def __init__(
        self,
        template: StreamTemplate,
        on_init: Callable[[bytes, TrackInfo], None],
        on_fragment: Callable[[Fragment], None],
    ) -> None:
        self._template = template
        self._on_init = on_init
        self._on_fragment = on_fragment
        self._info: TrackInfo | None = None
        self._strip_adts = False
        self._annex_b = False
        self._scale: tuple[int, int] | None = None  # (numerator, denominator): input ticks → timescale
        self._time_base: tuple[int, int] | None = None
        self._held: tuple[int, int, int, bytes] | None = None  # (dts, composition offset, flags, bytes)
        self._first_offset: int | None = None  # pts − dts of the first sample, in the timescale
        self._last_duration = 0
        self._frame_clock: FrameClock | None = None  # AAC: constant frame durations
        self.is_video = template.type == "video"

    def mux(self, frame: Frame) -> None:
        """Take a frame (decode order); hand on the previous frame's fragment."""
        info = self._info if self._info is not None else self._open(frame)
        if self._scale is None or frame.time_base != self._time_base:
            self._time_base = frame.time_base
            self._scale = (frame.time_base[0] * info.timescale, frame.time_base[1])
        numerator, denominator = self._scale
        dts = _rescale(frame.dts, numerator, denominator)
        pts = _rescale(frame.pts, numerator, denominator)
        if self._frame_clock is not None:
            dts = pts = self._frame_clock.place(dts)
        data = frame.data
        if self._strip_adts:
            data = without_adts_header(data)
        elif self._annex_b:
            data = annex_b_to_length_prefixed(data)
        flags = SYNC_FLAGS if frame.keyframe or not self.is_video else NON_SYNC_FLAGS
        if self._first_offset is None:
            self._first_offset = pts - dts
        if self._held is not None:
            self._emit(self._held, dts - self._held[0])
        if self._frame_clock is not None:
            self._last_duration = self._frame_clock.ticks
        elif frame.duration:
            self._last_duration = _rescale(frame.duration, numerator, denominator)
        self._held = (dts, pts - dts - self._first_offset, flags, data)

    def close(self) -> None:
        """Hand on the last fragment (its duration is its packet's)."""
        if self._held is not None:
            self._emit(self._held, self._last_duration)

    @property
    def info(self) -> TrackInfo | None:
        return self._info

    def _emit(self, held: tuple[int, int, int, bytes], duration: int) -> None:
        dts, offset, flags, data = held
        self._held = None
        self._on_fragment(Fragment(TRACK_ID, dts, [TrunSample(duration, len(data), flags, offset)], data))

    def _open(self, first: Frame) -> TrackInfo:
        """Write the init segment with a throwaway muxer fed the first packet."""
        options = {"movflags": MOVFLAGS}
        compensation = 0
        if self.is_video:
            options["video_track_timescale"] = str(VIDEO_TIMESCALE)
            if first.pts > first.dts:
                compensation = first.pts - first.dts
        inits: list[bytes] = []
        container = av.open(BoxSplitter(inits.append, lambda fragment: None), mode="w", format="mp4", options=options)
        stream = container.add_stream_from_template(self._template.stream)
        if self.is_video and self._template.width and self._template.height:
            # tkhd and the sample entry's size: an encoder's stream has them only in its codec
            # context (its parameters said 640x480 whatever the rung), a changed format only here
            context = cast(av.VideoCodecContext, stream.codec_context)
            context.width, context.height = self._template.width, self._template.height
        if self._template.reformatted:  # avcC from the new parameter sets
            stream.codec_context.extradata = self._template.extradata
        aac = None
        if self._template.codec_name == "aac":
            # AAC from MPEG-TS comes with ADTS headers; MP4 wants raw frames + the config in esds
            # (the header is written before any packet, so the muxer's own filter is too late).
            config = adts_audio_specific_config(first.data)
            self._strip_adts = config is not None
            config = config or self._template.extradata
            aac = try_parse_audio_specific_config(config)
            if aac is not None:
                _configure_audio(stream, config, aac)
        self._annex_b = self._template.codec_id in LENGTH_PREFIXED_CODECS and self._template.extradata[:1] != b"\x01"
        packet = av.Packet(without_adts_header(first.data) if self._strip_adts else first.data)
        packet.dts = first.dts - compensation
        packet.pts = first.pts - compensation
        packet.duration, packet.is_keyframe = first.duration, first.keyframe
        packet.time_base = Fraction(*first.time_base)
        packet.stream = stream
        container.mux(packet)
        container.close()
        if not inits:
            raise BoxError("the mp4 muxer wrote no init segment")
        self._info = parse_init(inits[0])
        if aac is not None and self._info.timescale == aac.sample_rate:
            self._frame_clock = FrameClock(aac.frame_length)
        self._on_init(inits[0], self._info)
        return self._info


class FrameClock:
    """Decode times, in the track timescale, of frames that each last `ticks` (AAC: 1024).

    A frame starts where the previous one ended, so sample durations are exact; the input's
    time wins when it is more than half a frame from that (a gap in the audio, a jump, an
    encoder whose clock drifts from its sample count), so the track never strays more than
    half a frame from the input timeline the other tracks follow. Never earlier than one tick
    after the previous frame.
    """

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks
        self._next: int | None = None

    def place(self, dts: int) -> int:
        expected = self._next
        if expected is None or abs(dts - expected) > self.ticks // 2:
            placed = dts if expected is None else max(dts, expected - self.ticks + 1)
        else:
            placed = expected
        self._next = placed + self.ticks
        return placed


def _configure_audio(stream: av.stream.Stream, config: bytes, aac: AacConfig) -> None:
    """Give the muxer's stream the AudioSpecificConfig and its rate and channels: its track
    timescale is the sample rate, and its mp4a entry says both."""
    context = cast(av.AudioCodecContext, stream.codec_context)
    context.extradata = config
    context.sample_rate = aac.sample_rate
    if aac.channel_count:
        context.layout = f"{aac.channel_count}c"


def _rescale(value: int, numerator: int, denominator: int) -> int:
    """value × numerator / denominator rounded to nearest, halves away from zero (av_rescale)."""
    product = value * numerator
    if product >= 0:
        return (2 * product + denominator) // (2 * denominator)
    return -((denominator - 2 * product) // (2 * denominator))


def annex_b_to_length_prefixed(data: bytes) -> bytes:
    """Annex B (start codes) to 4-byte length-prefixed NAL units; other data comes back as is."""
    position = data.find(START_CODE)
    if position < 0 or data[:position].strip(b"\x00"):
        return data
    units = []
    position += len(START_CODE)
    while True:
        following = data.find(START_CODE, position)
        end = len(data) if following < 0 else following
        unit = data[position:end].rstrip(b"\x00") if following >= 0 else data[position:end]
        if unit:
            units.append(len(unit).to_bytes(4, "big") + unit)
        if following < 0:
            return b"".join(units)
        position = following + len(START_CODE)


def adts_audio_specific_config(frame: bytes) -> bytes | None:
    """The 2-byte AudioSpecificConfig for an ADTS-framed AAC frame, None if not ADTS."""
    if len(frame) < 7 or frame[0] != 0xFF or frame[1] & 0xF6 != 0xF0:
        return None
    object_type = (frame[2] >> 6) + 1
    frequency_index = (frame[2] >> 2) & 0x0F
    channels = ((frame[2] & 0x01) << 2) | (frame[3] >> 6)
    value = (object_type << 11) | (frequency_index << 7) | (channels << 3)
    return value.to_bytes(2, "big")


def without_adts_header(data: bytes) -> bytes:
    """The raw AAC frame of an ADTS frame (7-byte header, 9 with CRC); other data as is."""
    if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF6 != 0xF0:
        return data
    return data[7 if data[1] & 0x01 else 9 :]
