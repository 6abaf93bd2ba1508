"""H.264 parameter sets: what a sequence parameter set (SPS) says, and when a stream's change.

A publisher may change its picture size mid-stream (OBS's output resize, an encoder restarted
behind a TS multiplexer, a hardware encoder adapting). The new SPS comes in-band, on the first
keyframe at the new size (MPEG-TS, and FLV written by `ffmpeg -c copy` from such a source), or
as a new FLV sequence header, which the FLV demuxer hands on as `new_extradata` side data. The
CMAF init segment, the masters and the MPD advertise the size and the profile/level, so the
packager must notice: `VideoFormatWatch` looks at each keyframe and says when the picture
format changed, with the new parameter sets in the form the stream's packets use (an avcC
record for length-prefixed packets, Annex B units otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from av.packet import Packet, PacketSideData

from packager.annexb import H264, START_CODE, leading_nal_types, parse_avcc, split_length_prefixed

SPS_TYPE = 7
PPS_TYPE = 8
HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})  # chroma fields follow
MAX_PARAMETER_SET = 4096  # bytes; an SPS is tens of bytes, anything longer is not one


class ParameterSetError(ValueError):
    """Not a parseable SPS (truncated, or garbage)."""


@dataclass(frozen=True)
class SequenceParameters:
    """The fields of an SPS that players are told about (init segment, masters, MPD)."""

    profile: int
    constraints: int
    level: int
    chroma_format: int
    bit_depth: int
    width: int
    height: int

    @property
    def codec(self) -> str:
        """RFC 6381 codec string, as `isobmff` reads it from the avcC."""
        return f"avc1.{self.profile:02x}{self.constraints:02x}{self.level:02x}"


@dataclass(frozen=True)
class VideoFormat:
    """A stream's picture format from a given keyframe on: its SPS and the extradata to use."""

    sps: SequenceParameters
    extradata: bytes  # avcC record (length-prefixed packets) or Annex B SPS/PPS


class _Bits:
    """Big-endian bit reader over an RBSP (emulation prevention bytes already removed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def bit(self) -> int:
        byte = self.position >> 3
        if byte >= len(self.data):
            raise ParameterSetError("truncated SPS")
        value = (self.data[byte] >> (7 - (self.position & 7))) & 1
        self.position += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ParameterSetError("bad exp-Golomb code in SPS")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def rbsp(nal: bytes) -> bytes:
    """The NAL unit's payload without its header and emulation prevention bytes (00 00 03)."""
    return nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")


def parse_sps(nal: bytes) -> SequenceParameters:
    """Profile, level, chroma format, bit depth and cropped picture size of an H.264 SPS NAL
    unit (header byte included). Raises ParameterSetError on anything else."""
    if not nal or nal[0] & 0x1F != SPS_TYPE or len(nal) > MAX_PARAMETER_SET:
        raise ParameterSetError("not an SPS")
    bits = _Bits(rbsp(nal))
    profile, constraints, level = bits.bits(8), bits.bits(8), bits.bits(8)
    bits.ue()  # seq_parameter_set_id
    chroma_format, bit_depth, separate_planes = 1, 8, 0
    if profile in HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            separate_planes = bits.bit()
        bit_depth = bits.ue() + 8
        bits.ue()  # bit_depth_chroma_minus8
        if chroma_format > 3 or bit_depth > 14:
            raise ParameterSetError(f"SPS with chroma format {chroma_format}, {bit_depth} bits")
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format != 3 else 12):
                if bits.bit():
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    order_type = bits.ue()
    if order_type == 0:
        bits.ue()
    elif order_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    frame_mbs_only = bits.bit()
    if not frame_mbs_only:
        bits.bit()  # mb_adaptive_frame_field_flag
    bits.bit()  # direct_8x8_inference_flag
    crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue()) if bits.bit() else (0, 0, 0, 0)
    sub_width, sub_height = {1: (2, 2), 2: (2, 1), 3: (1, 1)}.get(chroma_format, (1, 1))
    if chroma_format == 0 or separate_planes:
        sub_width = sub_height = 1
    unit_x, unit_y = sub_width, sub_height * (2 - frame_mbs_only)
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise ParameterSetError(f"SPS gives a {width}x{height} picture")
    return SequenceParameters(profile, constraints, level, chroma_format, bit_depth, width, height)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


def extradata_units(extradata: bytes) -> list[bytes]:
    """The NAL units of a stream's extradata: an avcC record or Annex B parameter sets."""
    if extradata[:1] == b"\x01":
        try:
            return parse_avcc(extradata)[1]
        except IndexError:
            return []
    return annex_b_units(extradata)


def annex_b_units(data: bytes) -> list[bytes]:
    """NAL units of Annex B data, up to and including the first slice (whose bytes are not
    copied: only parameter sets are wanted here)."""
    units = []
    types = leading_nal_types(data, H264)
    position = data.find(b"\x00\x00\x01")
    for nal_type in types:
        start = position + 3
        following = data.find(b"\x00\x00\x01", start)
        if H264.is_vcl(nal_type):
            break
        end = len(data) if following < 0 else following
        unit = data[start:end].rstrip(b"\x00")
        if unit:
            units.append(unit)
        position = following
    return units


def avcc_record(units: list[bytes], sps: SequenceParameters, length_size: int) -> bytes:
    """An AVCDecoderConfigurationRecord (ISO/IEC 14496-15) for these SPS/PPS units."""
    sets = [u for u in units if u[0] & 0x1F == SPS_TYPE]
    pictures = [u for u in units if u[0] & 0x1F == PPS_TYPE]
    record = bytearray((1, sps.profile, sps.constraints, sps.level, 0xFC | (length_size - 1), 0xE0 | len(sets)))
    for unit in sets:
        record += len(unit).to_bytes(2, "big") + unit
    record.append(len(pictures))
    for unit in pictures:
        record += len(unit).to_bytes(2, "big") + unit
    if sps.profile in HIGH_PROFILES:
        record += bytes((0xFC | sps.chroma_format, 0xF8 | (sps.bit_depth - 8), 0xF8 | (sps.bit_depth - 8), 0))
    return bytes(record)


class VideoFormatWatch:
    """Follows one H.264 stream's parameter sets, keyframe by keyframe.

    `check(packet)`, called with every packet in decode order, returns a `VideoFormat` at a
    keyframe whose SPS gives another picture size, profile, level, chroma format or bit depth
    than the last one (in-band), or at the first keyframe after a new sequence header (side
    data) that differs from the current extradata; None otherwise. A stream whose
    extradata holds no SPS takes its first keyframe's as the start, without a change.
    Unparseable parameter sets are ignored: the stream goes on as it was.
    """

    def __init__(self, extradata: bytes) -> None:
        self.extradata = bytes(extradata)
        self.length_size = _length_size(self.extradata)
        self.current = _first_sps(extradata_units(self.extradata))
        self.pending_header: bytes | None = None

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.current.width, self.current.height) if self.current else None

    def check(self, packet: Packet[Any]) -> VideoFormat | None:
        if packet.has_sidedata("new_extradata"):
            self.pending_header = _side_data(packet)
        if not packet.is_keyframe:
            return None  # a new sequence header counts from the next keyframe
        if self.pending_header is not None:
            header, self.pending_header = self.pending_header, None
            return self._sequence_header(header)
        units = self._leading_units(bytes(packet))
        sps = _first_sps(units)
        if sps is None or sps == self.current:
            return None
        changed = self.current is not None
        self.current = sps
        if not changed:
            return None
        sets = [u for u in units if u[0] & 0x1F in (SPS_TYPE, PPS_TYPE)]
        if self.length_size:
            self.extradata = avcc_record(sets, sps, self.length_size)
        else:
            self.extradata = b"".join(START_CODE + unit for unit in sets)
        return VideoFormat(sps, self.extradata)

    def _sequence_header(self, extradata: bytes) -> VideoFormat | None:
        sps = _first_sps(extradata_units(extradata))
        if extradata == self.extradata or sps is None:
            return None
        self.extradata = extradata
        self.length_size = _length_size(extradata)
        self.current = sps
        return VideoFormat(sps, extradata)

    def _leading_units(self, data: bytes) -> list[bytes]:
        if not self.length_size:
            return annex_b_units(data)
        units = []
        for unit in split_length_prefixed(data, self.length_size):
            if unit and H264.is_vcl(unit[0] & 0x1F):
                break
            units.append(unit)
        return [u for u in units if u]


def _length_size(extradata: bytes) -> int:
    """NAL length size of an avcC record (a truncated one counts as 4, FLV's); 0 for Annex B."""
    if extradata[:1] != b"\x01":
        return 0
    return (extradata[4] & 0x03) + 1 if len(extradata) > 4 else 4


def _first_sps(units: list[bytes]) -> SequenceParameters | None:
    for unit in units:
        if unit and unit[0] & 0x1F == SPS_TYPE:
            try:
                return parse_sps(unit)
            except ParameterSetError:
                return None
    return None


def _side_data(packet: Packet[Any]) -> bytes:
    return bytes(PacketSideData.from_packet(packet, "new_extradata"))
