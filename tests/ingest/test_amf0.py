import math

import pytest

from ingest.rtmp import amf0
from ingest.rtmp.amf0 import UNDEFINED, Amf0Error, AmfDate, EcmaArray

CONNECT = [
    "connect",
    1.0,
    {
        "app": "in",
        "type": "nonprivate",
        "flashVer": "FMLE/3.0 (compatible; Lavf61.7.100)",
        "tcUrl": "rtmp://127.0.0.1:1935/in",
    },
]


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -1.5,
        1e300,
        math.inf,
        True,
        False,
        "",
        "héllo ✓",
        "x" * 70000,
        None,
        UNDEFINED,
        {"a": 1.0, "nested": {"b": [1.0, "two", None]}},
        EcmaArray(duration=3.0, width=320.0),
        [1.0, [2.0, [3.0]], {"k": False}],
        AmfDate(1_700_000_000_000.0, 0),
        {},
        [],
        EcmaArray(),
    ],
)
def test_round_trip(value):
    assert amf0.decode(amf0.encode(value)) == [value]


def test_long_string_uses_long_string_marker():
    encoded = amf0.encode("x" * 70000)
    assert encoded[0] == amf0.LONG_STRING
    assert amf0.encode("x")[0] == amf0.STRING


def test_ints_encode_as_numbers():
    assert amf0.decode(amf0.encode(3)) == [3.0]


def test_ecma_array_stays_ecma_array():
    (value,) = amf0.decode(amf0.encode(EcmaArray(width=320.0)))
    assert type(value) is EcmaArray


def test_command_sequence_round_trip():
    assert amf0.decode(amf0.encode(*CONNECT)) == CONNECT


def test_known_bytes():
    assert amf0.encode("ab") == b"\x02\x00\x02ab"
    assert amf0.encode(1.0) == b"\x00\x3f\xf0" + b"\x00" * 6
    assert amf0.encode({"a": True}) == b"\x03\x00\x01a\x01\x01\x00\x00\x09"
    assert amf0.decode(b"\x08\x00\x00\x00\x01\x00\x01a\x05\x00\x00\x09") == [EcmaArray(a=None)]


def test_every_truncation_raises():
    encoded = amf0.encode(*CONNECT, EcmaArray(d=AmfDate(1.0)), ["s", 2.0])
    for cut in range(1, len(encoded)):
        try:
            values = amf0.decode(encoded[:cut])
        except Amf0Error:
            continue
        # A cut exactly between two top-level values is a valid, shorter sequence.
        assert amf0.encode(*values) == encoded[:cut]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x0d", "unsupported AMF0 type"),  # unsupported marker
        (b"\x11\x00", "unsupported AMF0 type"),  # AMF3 switch
        (b"\x09", "object end"),  # stray object end
        (b"\x0a\xff\xff\xff\xff", "exceeds"),  # absurd strict array count
        (b"\x02\x00\x02\xff\xfe", "UTF-8"),  # invalid UTF-8
        (b"\x03\x00\x01a", "truncated"),  # property without value
        (b"\x03" * 100, "truncated"),
    ],
)
def test_invalid_input(data, message):
    with pytest.raises(Amf0Error, match=message):
        amf0.decode(data)


def test_deep_nesting_is_refused():
    data = b"\x0a\x00\x00\x00\x01" * 1000 + b"\x05"
    with pytest.raises(Amf0Error, match="deep"):
        amf0.decode(data)


def test_unencodable_type():
    with pytest.raises(TypeError):
        amf0.encode(object())
