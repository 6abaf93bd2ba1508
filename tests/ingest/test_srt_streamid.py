"""The SRT streamid: `<app>/<stream id>/<token>`, and the token stays out of reprs."""

import pytest

from ingest.srt.streamid import StreamIdError, parse_stream_id


def test_parses_app_stream_and_token():
    parsed = parse_stream_id("backup/12/0123abcd")
    assert (parsed.app, parsed.name, parsed.token) == ("backup", "12", "0123abcd")
    assert "0123abcd" not in repr(parsed)


@pytest.mark.parametrize("text", ["", "in", "in/12", "in/12/", "/12/tok", "in//tok", "in/1/2/3", "x" * 600])
def test_rejects_anything_else(text):
    with pytest.raises(StreamIdError):
        parse_stream_id(text)
