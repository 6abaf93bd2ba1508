"""FLV framing and codec inspection of FLV-style media payloads.

The node forwards a publisher to its stream worker as an FLV byte stream, so these helpers
sit between the RTMP session (which produces MediaMessages) and the worker pipe.
"""

from __future__ import annotations

import struct

from ingest.media import AUDIO, DATA, VIDEO, MediaMessage

_TAG_HEADER = struct.Struct(">BHBBHBHB")  # type, size 24 (H+B), ts 24 (B+H), ts ext, stream id 24 (H+B)
_PREVIOUS_TAG_SIZE = struct.Struct(">I")

AVC_CODEC_ID = 7
HEVC_LEGACY_CODEC_ID = 12  # the widespread pre-E-RTMP extension (ffmpeg < 6 forks, SRS)
AAC_SOUND_FORMAT = 10
EX_AUDIO_SOUND_FORMAT = 9  # enhanced RTMP v2 audio: FourCC follows
SUPPORTED_VIDEO_FOURCCS = (b"avc1", b"hvc1")
_ON_METADATA = b"\x02\x00\x0aonMetaData"  # AMF0 string "onMetaData"

_VIDEO_CODEC_NAMES = {
    2: "Sorenson H.263",
    3: "screen video",
    4: "VP6",
    5: "VP6 alpha",
    6: "screen video 2",
    7: "AVC",
    12: "HEVC",
}
_AUDIO_FORMAT_NAMES = {
    0: "linear PCM",
    1: "ADPCM",
    2: "MP3",
    3: "linear PCM LE",
    4: "Nellymoser 16k",
    5: "Nellymoser 8k",
    6: "Nellymoser",
    7: "G.711 A-law",
    8: "G.711 mu-law",
    9: "enhanced audio",
    10: "AAC",
    11: "Speex",
    14: "MP3 8k",
}

# Enhanced RTMP video packet types (low nibble of byte 0 when the ExHeader bit is set).
_EX_SEQUENCE_START = 0
_EX_CODED_FRAMES = 1
_EX_CODED_FRAMES_X = 3
_EX_MPEG2TS_SEQUENCE_START = 5
_KEYFRAME = 1


def flv_header(audio: bool = True, video: bool = True) -> bytes:
    """The 9-byte FLV file header followed by PreviousTagSize0."""
    flags = (0x04 if audio else 0) | (0x01 if video else 0)
    return b"FLV\x01" + bytes((flags,)) + b"\x00\x00\x00\x09" + b"\x00\x00\x00\x00"


def flv_tag(message: MediaMessage) -> bytes:
    """One FLV tag: 11-byte header, payload, PreviousTagSize.

    FLV stores 24 timestamp bits plus an extension byte (32 bits); beyond that it wraps,
    as the format itself does.
    """
    size = len(message.payload)
    ts = message.timestamp & 0xFFFFFFFF
    header = _TAG_HEADER.pack(message.kind, size >> 8, size & 0xFF, (ts >> 16) & 0xFF, ts & 0xFFFF, ts >> 24, 0, 0)
    return header + message.payload + _PREVIOUS_TAG_SIZE.pack(11 + size)


def _is_ex_video(payload: bytes) -> bool:
    return bool(payload[0] & 0x80)


def is_video_keyframe(message: MediaMessage) -> bool:
    """True for a coded key frame (a random access point), not for a sequence header."""
    if message.kind != VIDEO or not message.payload:
        return False
    payload = message.payload
    if _is_ex_video(payload):
        frame_type = (payload[0] >> 4) & 0x07
        return frame_type == _KEYFRAME and payload[0] & 0x0F in (_EX_CODED_FRAMES, _EX_CODED_FRAMES_X)
    if payload[0] >> 4 != _KEYFRAME:
        return False
    if payload[0] & 0x0F in (AVC_CODEC_ID, HEVC_LEGACY_CODEC_ID):
        return len(payload) > 1 and payload[1] == 1
    return True


def is_metadata(message: MediaMessage) -> bool:
    """True for an `onMetaData` script tag (`@setDataFrame` already stripped by the session)."""
    return message.kind == DATA and message.payload.startswith(_ON_METADATA)


def is_sequence_header(message: MediaMessage) -> bool:
    """True for decoder configuration: AVC/HEVC sequence header, AAC AudioSpecificConfig,
    or an enhanced-RTMP SequenceStart."""
    payload = message.payload
    if not payload:
        return False
    if message.kind == VIDEO:
        if _is_ex_video(payload):
            return payload[0] & 0x0F in (_EX_SEQUENCE_START, _EX_MPEG2TS_SEQUENCE_START)
        return payload[0] & 0x0F in (AVC_CODEC_ID, HEVC_LEGACY_CODEC_ID) and len(payload) > 1 and payload[1] == 0
    if message.kind == AUDIO:
        sound_format = payload[0] >> 4
        if sound_format == AAC_SOUND_FORMAT:
            return len(payload) > 1 and payload[1] == 0
        if sound_format == EX_AUDIO_SOUND_FORMAT:
            return payload[0] & 0x0F == _EX_SEQUENCE_START
    return False


def unsupported_codec(message: MediaMessage) -> str | None:
    """Why Headwater cannot take this (first) audio/video message's codec, or None if it can."""
    payload = message.payload
    if not payload:
        return None
    if message.kind == VIDEO:
        if _is_ex_video(payload):
            fourcc = payload[1:5]
            if fourcc in SUPPORTED_VIDEO_FOURCCS:
                return None
            return f"video codec {fourcc.decode('latin-1')!r} not supported (need H.264 or HEVC)"
        codec_id = payload[0] & 0x0F
        if codec_id == AVC_CODEC_ID:
            return None
        name = _VIDEO_CODEC_NAMES.get(codec_id, "unknown")
        return f"video codec id {codec_id} ({name}) not supported (need H.264 or HEVC)"
    if message.kind == AUDIO:
        sound_format = payload[0] >> 4
        if sound_format == AAC_SOUND_FORMAT:
            return None
        name = _AUDIO_FORMAT_NAMES.get(sound_format, "unknown")
        return f"audio sound format {sound_format} ({name}) not supported (need AAC)"
    return None
