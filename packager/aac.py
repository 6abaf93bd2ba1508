"""What an AAC stream really is: its AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).

Why: container headers lie about AAC. An FLV audio tag says 44 kHz stereo for every AAC
stream (the FLV spec fixes those fields for AAC), and a demuxer that opened the input after a
few tags repeats it. The AudioSpecificConfig (FLV's sequence header, MP4's esds, or the fields
of an ADTS header) is the truth: sampling rate, channels and the frame length that every
sample lasts.
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
ESCAPE_OBJECT_TYPE = 31
ESCAPE_FREQUENCY_INDEX = 15
EXPLICIT_SBR_OBJECT_TYPES = (5, 29)  # HE-AAC, HE-AAC v2 with explicit signalling
GA_OBJECT_TYPES = (1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23)  # GASpecificConfig follows (frameLengthFlag)
FRAME_LENGTH = 1024
SHORT_FRAME_LENGTH = 960
CHANNEL_COUNTS = {7: 8, 11: 7, 12: 8, 13: 24, 14: 8}  # channelConfiguration → channels, where they differ


class _Bits:
    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = 8 * len(data)

    def read(self, count: int) -> int:
        if count > self._left:
            raise ValueError("AudioSpecificConfig is truncated")
        self._left -= count
        return (self._value >> self._left) & ((1 << count) - 1)


@dataclass(frozen=True)
class AacConfig:
    """The decoder's view of an AAC stream.

    `sample_rate` is the output rate (the SBR extension's rate with explicit HE-AAC signalling,
    whose frames then last 2048 output samples); `channels` 0 means a program config element
    in the bitstream says it.
    """

    object_type: int
    sample_rate: int
    channels: int  # channelConfiguration (what DASH's AudioChannelConfiguration carries)
    frame_length: int

    @property
    def channel_count(self) -> int:
        """How many channels the configuration decodes to (HLS CHANNELS, mp4a channelcount)."""
        return CHANNEL_COUNTS.get(self.channels, self.channels)


def parse_audio_specific_config(config: bytes) -> AacConfig:
    """Parse an AudioSpecificConfig; ValueError if it is truncated or its rate index is reserved."""
    bits = _Bits(config)
    object_type = _object_type(bits)
    sample_rate = _sample_rate(bits)
    channels = bits.read(4)
    if object_type in EXPLICIT_SBR_OBJECT_TYPES:
        sample_rate = _sample_rate(bits)
        return AacConfig(_object_type(bits), sample_rate, channels, 2 * FRAME_LENGTH)
    frame_length = FRAME_LENGTH
    if object_type in GA_OBJECT_TYPES and bits.read(1):
        frame_length = SHORT_FRAME_LENGTH
    return AacConfig(object_type, sample_rate, channels, frame_length)


def _object_type(bits: _Bits) -> int:
    object_type = bits.read(5)
    return 32 + bits.read(6) if object_type == ESCAPE_OBJECT_TYPE else object_type


def _sample_rate(bits: _Bits) -> int:
    index = bits.read(4)
    if index == ESCAPE_FREQUENCY_INDEX:
        return bits.read(24)
    if index >= len(SAMPLE_RATES):
        raise ValueError(f"reserved AAC sampling frequency index {index}")
    return SAMPLE_RATES[index]


def try_parse_audio_specific_config(config: bytes) -> AacConfig | None:
    """The config, or None when there is none or it cannot be read (then the stream's own
    parameters are all there is)."""
    try:
        return parse_audio_specific_config(config) if config else None
    except ValueError:
        return None
