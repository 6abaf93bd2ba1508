"""H.264 / HEVC access units as MPEG-TS wants them: Annex B, an AUD first, parameter sets on keyframes.

Why: FLV/RTMP sources hand length-prefixed NAL units (avcC / hvcC) with the SPS/PPS (and VPS) only
in the stream's extradata, while a TS segment must decode on its own. So every access unit gets
start codes and an access unit delimiter, and every keyframe without in-band parameter sets gets
those of the extradata in front. Annex B input (encoders, MPEG-TS sources) is only checked for the
AUD and, on keyframes, the parameter sets; its slices are never copied NAL by NAL.
"""

from __future__ import annotations

from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
SHORT_START_CODE = b"\x00\x00\x01"


@dataclass(frozen=True)
class NalSyntax:
    """What differs between H.264 and HEVC here: the NAL type field and the types that matter."""

    aud: bytes  # a whole access unit delimiter, start code included
    parameter_set_types: frozenset[int]
    aud_type: int
    first_vcl_type: int
    last_vcl_type: int
    header_size: int  # bytes of NAL header (1 for H.264, 2 for HEVC)

    def nal_type(self, first_byte: int) -> int:
        return first_byte & 0x1F if self.header_size == 1 else (first_byte >> 1) & 0x3F

    def is_vcl(self, nal_type: int) -> bool:
        return self.first_vcl_type <= nal_type <= self.last_vcl_type


H264 = NalSyntax(
    aud=START_CODE + b"\x09\xf0",  # primary_pic_type 7: any slice type
    parameter_set_types=frozenset({7, 8}),  # SPS, PPS
    aud_type=9,
    first_vcl_type=1,
    last_vcl_type=5,
    header_size=1,
)
HEVC = NalSyntax(
    aud=START_CODE + b"\x46\x01\x50",  # type 35, layer 0, tid 1, pic_type 2
    parameter_set_types=frozenset({32, 33, 34}),  # VPS, SPS, PPS
    aud_type=35,
    first_vcl_type=0,
    last_vcl_type=31,
    header_size=2,
)
SYNTAX = {"h264": H264, "hevc": HEVC}


class AnnexBFramer:
    """Turns one stream's packets into Annex B access units (see the module docstring).

    `extradata` is the stream's: an avcC/hvcC record (first byte 1) means the packets are
    length-prefixed; anything else (Annex B parameter sets, or nothing) means Annex B packets.
    """

    def __init__(self, codec: str, extradata: bytes) -> None:
        self._syntax = SYNTAX[codec]
        self._length_size = 0  # 0: packets are Annex B
        self._parameter_sets = b""
        self.set_extradata(extradata)

    def set_extradata(self, extradata: bytes) -> None:
        """New codec configuration (e.g. side data after a resolution change)."""
        if extradata[:1] == b"\x01":
            parse = parse_avcc if self._syntax is H264 else parse_hvcc
            self._length_size, units = parse(extradata)
            sets = self._syntax.parameter_set_types
            self._parameter_sets = b"".join(
                START_CODE + unit for unit in units if unit and self._syntax.nal_type(unit[0]) in sets
            )
        elif extradata:
            self._parameter_sets = bytes(extradata) if extradata.startswith((START_CODE, SHORT_START_CODE)) else b""

    def access_unit(self, data: bytes, keyframe: bool) -> bytes:
        if self._length_size:
            return self._from_length_prefixed(data, keyframe)
        return self._from_annex_b(data, keyframe)

    def _from_length_prefixed(self, data: bytes, keyframe: bool) -> bytes:
        syntax = self._syntax
        units = split_length_prefixed(data, self._length_size)
        types = [syntax.nal_type(unit[0]) for unit in units if unit]
        parts = []
        if not types or types[0] != syntax.aud_type:
            parts.append(syntax.aud)
        if keyframe and not syntax.parameter_set_types.intersection(types):
            parts.append(self._parameter_sets)
        for unit in units:
            parts.append(START_CODE)
            parts.append(unit)
        return b"".join(parts)

    def _from_annex_b(self, data: bytes, keyframe: bool) -> bytes:
        syntax = self._syntax
        types = leading_nal_types(data, syntax)
        has_aud = bool(types) and types[0] == syntax.aud_type
        insert_sets = keyframe and bool(self._parameter_sets) and not syntax.parameter_set_types.intersection(types)
        if has_aud and not insert_sets:
            return data
        if not has_aud and not insert_sets:
            return syntax.aud + data
        if has_aud:  # the parameter sets go after the AUD, which must stay first
            end = data.find(SHORT_START_CODE, data.find(SHORT_START_CODE) + 3)
            end = len(data) if end < 0 else end - (1 if data[end - 1] == 0 else 0)
            return data[:end] + self._parameter_sets + data[end:]
        return syntax.aud + self._parameter_sets + data


def split_length_prefixed(data: bytes, length_size: int) -> list[bytes]:
    """The NAL units of a length-prefixed access unit (a truncated last one is kept as is)."""
    units = []
    position, end = 0, len(data)
    while position + length_size <= end:
        size = int.from_bytes(data[position : position + length_size], "big")
        position += length_size
        units.append(data[position : position + size])
        position += size
    return units


def leading_nal_types(data: bytes, syntax: NalSyntax) -> list[int]:
    """NAL types of an Annex B access unit up to and including its first slice.

    Parameter sets and the AUD come before the slices, so the scan stops at the first VCL unit
    and never runs through the slice data.
    """
    types = []
    position = data.find(SHORT_START_CODE)
    while 0 <= position < len(data) - 3:
        nal_type = syntax.nal_type(data[position + 3])
        types.append(nal_type)
        if syntax.is_vcl(nal_type):
            break
        position = data.find(SHORT_START_CODE, position + 3)
    return types


def parse_avcc(record: bytes) -> tuple[int, list[bytes]]:
    """(NAL length size, [SPS…, PPS…]) of an AVCDecoderConfigurationRecord."""
    length_size = (record[4] & 0x03) + 1
    units: list[bytes] = []
    position = 5
    for count_mask in (0x1F, 0xFF):  # SPS count (5 bits), then PPS count
        if position >= len(record):
            break
        position = _read_units(record, position + 1, record[position] & count_mask, units)
    return length_size, units


def parse_hvcc(record: bytes) -> tuple[int, list[bytes]]:
    """(NAL length size, its NAL units: VPS, SPS, PPS, maybe SEI) of an HEVCDecoderConfigurationRecord."""
    length_size = (record[21] & 0x03) + 1
    units: list[bytes] = []
    position = 23
    for _ in range(record[22]):
        count = int.from_bytes(record[position + 1 : position + 3], "big")
        position = _read_units(record, position + 3, count, units)
    return length_size, units


def _read_units(record: bytes, position: int, count: int, units: list[bytes]) -> int:
    """Append `count` 16-bit-length-prefixed NAL units from `position`; returns the end."""
    for _ in range(count):
        size = int.from_bytes(record[position : position + 2], "big")
        units.append(record[position + 2 : position + 2 + size])
        position += 2 + size
    return position
