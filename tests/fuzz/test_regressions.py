"""Every crash the fuzzers found, as its minimal input through the harness that found it
(the same input against a real node is in tests/api/)."""

from __future__ import annotations

import pytest

from fuzz.target import load


@pytest.mark.parametrize(
    "body",
    [
        b'\x00{"name":"a","cdn_id":2147483648}',  # SQLite: "Python int too large"; PostgreSQL: out of range
        b'\x00{"name":"a","client_user_id":59999999999999999999}',
        b'\x01{"stream":{"quality_set_id":-2147483649}}',
        b'\x03[{"id":4294967296}]',  # an overlay id is looked up in an Integer column
    ],
)
def test_api_integer_beyond_its_column_is_refused(body):
    load("api_bodies").check(body)


@pytest.mark.parametrize(
    "request_target",
    [
        b"%C2%B2/index.m3u8",  # "²": str.isdigit() is true, int() refuses it (a 500 through the ASGI app)
        b"9" * 4301 + b"/index.m3u8",  # int() refuses more than 4300 digits
    ],
)
def test_live_path_with_an_id_int_refuses_is_not_live(request_target):
    load("hls_query").check(request_target)
