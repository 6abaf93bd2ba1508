"""ADTS headers for raw AAC frames: MPEG-TS carries AAC self-framed (stream_type 0x0F).

Why: FLV/RTMP and MP4 sources give raw AAC frames and the AudioSpecificConfig once, in the
extradata; a TS reader has no extradata, so each frame carries the profile, sampling frequency
index and channel configuration in its own 7-byte header. Frames that are ADTS already (from an
MPEG-TS source) pass unchanged.
"""

from __future__ import annotations

from packager.aac import SAMPLE_RATES, try_parse_audio_specific_config

ADTS_HEADER_SIZE = 7
AAC_LC = 2
MAX_FRAME_LENGTH = (1 << 13) - 1


def is_adts(data: bytes) -> bool:
    return len(data) >= ADTS_HEADER_SIZE and data[0] == 0xFF and data[1] & 0xF6 == 0xF0


class AdtsFramer:
    """Prefixes raw AAC frames of one stream with an ADTS header built from its configuration."""

    def __init__(self, extradata: bytes, sample_rate: int | None = None, channels: int | None = None) -> None:
        object_type, frequency_index, channel_config = audio_specific_config(extradata, sample_rate, channels)
        # ADTS can only say profiles 1-4; HE-AAC (SBR/PS) is signalled implicitly over an LC core.
        profile = (object_type if 1 <= object_type <= 4 else AAC_LC) - 1
        self._byte2 = (profile << 6) | (frequency_index << 2) | (channel_config >> 2)
        self._byte3 = (channel_config & 0x03) << 6

    def frame(self, data: bytes) -> bytes:
        if is_adts(data):
            return data
        length = len(data) + ADTS_HEADER_SIZE
        if length > MAX_FRAME_LENGTH:
            raise ValueError(f"AAC frame of {len(data)} bytes does not fit an ADTS header")
        header = bytes(
            (
                0xFF,
                0xF1,  # sync word, MPEG-4, layer 0, no CRC
                self._byte2,
                self._byte3 | (length >> 11),
                (length >> 3) & 0xFF,
                ((length & 0x07) << 5) | 0x1F,  # buffer fullness 0x7FF: variable rate
                0xFC,  # one raw data block
            )
        )
        return header + data


def audio_specific_config(extradata: bytes, sample_rate: int | None, channels: int | None) -> tuple[int, int, int]:
    """(object type, sampling frequency index, channel configuration) from an AudioSpecificConfig,
    or from the stream's sample rate and channels (AAC LC) when there is none. A config that
    escapes the rate (index 15) gets the nearest index: ADTS has no escape. The stream's own
    parameters come last: FLV's say 44.1 kHz stereo for any AAC."""
    if len(extradata) >= 2:
        bits = int.from_bytes(extradata[:2], "big")
        object_type = bits >> 11
        frequency_index = (bits >> 7) & 0x0F
        channel_config = (bits >> 3) & 0x0F
        if object_type != 31 and frequency_index != 15:  # no escape codes: the plain layout
            return object_type, frequency_index, channel_config
    escaped = try_parse_audio_specific_config(extradata)  # an explicit rate: the nearest index
    if escaped is not None:
        sample_rate, channels = escaped.sample_rate, escaped.channels or channels
    rate = sample_rate or 48000
    index = min(range(len(SAMPLE_RATES)), key=lambda i: abs(SAMPLE_RATES[i] - rate))
    return AAC_LC, index, channels or 2
