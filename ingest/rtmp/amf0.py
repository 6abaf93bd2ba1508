"""AMF0, the value encoding of RTMP commands and script data.

Python mapping: number ↔ float (ints encode as numbers), boolean ↔ bool, string/long string
↔ str, object ↔ dict, ECMA array ↔ EcmaArray, strict array ↔ list, null ↔ None,
undefined ↔ UNDEFINED, date ↔ AmfDate.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

NUMBER = 0x00
BOOLEAN = 0x01
STRING = 0x02
OBJECT = 0x03
NULL = 0x05
UNDEFINED_MARKER = 0x06
ECMA_ARRAY = 0x08
OBJECT_END = 0x09
STRICT_ARRAY = 0x0A
DATE = 0x0B
LONG_STRING = 0x0C

MAX_DEPTH = 32  # nesting limit so hostile input cannot exhaust the stack

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_DATE = struct.Struct(">dh")


class Amf0Error(ValueError):
    """Truncated or invalid AMF0 data."""


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()


class EcmaArray(dict):
    """An AMF0 ECMA array (associative array), e.g. the body of onMetaData."""


@dataclass(frozen=True, slots=True)
class AmfDate:
    milliseconds: float  # since the Unix epoch, UTC
    timezone: int = 0  # minutes; reserved, should be 0


# ---------------------------------------------------------------- decoding


def decode(data: bytes | bytearray | memoryview) -> list[Any]:
    """Decode all values in ``data``; raises Amf0Error if anything is truncated or unknown."""
    view = memoryview(data)
    values = []
    offset = 0
    while offset < len(view):
        value, offset = decode_value(view, offset)
        values.append(value)
    return values


def decode_value(view: memoryview, offset: int, depth: int = 0) -> tuple[Any, int]:
    """Decode one value at ``offset``; returns it and the offset after it."""
    if depth > MAX_DEPTH:
        raise Amf0Error("AMF0 nesting too deep")
    marker = _read(view, offset, 1)[0]
    offset += 1
    if marker == NUMBER:
        return _DOUBLE.unpack(_read(view, offset, 8))[0], offset + 8
    if marker == BOOLEAN:
        return _read(view, offset, 1)[0] != 0, offset + 1
    if marker == STRING:
        return _read_string(view, offset, _U16)
    if marker == LONG_STRING:
        return _read_string(view, offset, _U32)
    if marker == OBJECT:
        return _read_properties(view, offset, {}, depth)
    if marker == ECMA_ARRAY:
        _read(view, offset, 4)  # approximate count, not trusted: the end marker terminates
        return _read_properties(view, offset + 4, EcmaArray(), depth)
    if marker == STRICT_ARRAY:
        (count,) = _U32.unpack(_read(view, offset, 4))
        offset += 4
        if count > len(view) - offset:  # every element takes at least one byte
            raise Amf0Error(f"AMF0 strict array count {count} exceeds data")
        items = []
        for _ in range(count):
            item, offset = decode_value(view, offset, depth + 1)
            items.append(item)
        return items, offset
    if marker == DATE:
        milliseconds, timezone = _DATE.unpack(_read(view, offset, 10))
        return AmfDate(milliseconds, timezone), offset + 10
    if marker == NULL:
        return None, offset
    if marker == UNDEFINED_MARKER:
        return UNDEFINED, offset
    if marker == OBJECT_END:
        raise Amf0Error("AMF0 object end marker outside an object")
    raise Amf0Error(f"unsupported AMF0 type marker 0x{marker:02x}")


def _read(view: memoryview, offset: int, size: int) -> memoryview:
    if offset + size > len(view):
        raise Amf0Error(f"AMF0 data truncated at offset {offset} (need {size} bytes)")
    return view[offset : offset + size]


def _read_string(view: memoryview, offset: int, length_struct: struct.Struct) -> tuple[str, int]:
    (length,) = length_struct.unpack(_read(view, offset, length_struct.size))
    offset += length_struct.size
    raw = _read(view, offset, length)
    try:
        return str(raw, "utf-8"), offset + length
    except UnicodeDecodeError as exc:
        raise Amf0Error(f"AMF0 string is not UTF-8: {exc}") from None


def _read_properties(view: memoryview, offset: int, target: dict, depth: int) -> tuple[dict, int]:
    while True:
        key, offset = _read_string(view, offset, _U16)
        if key == "" and _read(view, offset, 1)[0] == OBJECT_END:
            return target, offset + 1
        target[key], offset = decode_value(view, offset, depth + 1)


# ---------------------------------------------------------------- encoding


def encode(*values: Any) -> bytes:
    """Encode values one after another, as a command or a script-data body."""
    out = bytearray()
    for value in values:
        _encode_into(out, value)
    return bytes(out)


def _encode_into(out: bytearray, value: Any) -> None:
    if value is None:
        out.append(NULL)
    elif value is UNDEFINED:
        out.append(UNDEFINED_MARKER)
    elif isinstance(value, bool):
        out += bytes((BOOLEAN, 1 if value else 0))
    elif isinstance(value, (int, float)):
        out.append(NUMBER)
        out += _DOUBLE.pack(float(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            out.append(LONG_STRING)
            out += _U32.pack(len(raw))
        else:
            out.append(STRING)
            out += _U16.pack(len(raw))
        out += raw
    elif isinstance(value, AmfDate):
        out.append(DATE)
        out += _DATE.pack(value.milliseconds, value.timezone)
    elif isinstance(value, EcmaArray):
        out.append(ECMA_ARRAY)
        out += _U32.pack(len(value))
        _encode_properties(out, value)
    elif isinstance(value, dict):
        out.append(OBJECT)
        _encode_properties(out, value)
    elif isinstance(value, (list, tuple)):
        out.append(STRICT_ARRAY)
        out += _U32.pack(len(value))
        for item in value:
            _encode_into(out, item)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def _encode_properties(out: bytearray, properties: dict) -> None:
    for key, item in properties.items():
        raw = str(key).encode("utf-8")
        if len(raw) > 0xFFFF:
            raise ValueError("AMF0 property name longer than 65535 bytes")
        out += _U16.pack(len(raw))
        out += raw
        _encode_into(out, item)
    out += b"\x00\x00" + bytes((OBJECT_END,))
