"""Instant clips' checks that need no media, through the Gcore SDK (the e2e module
`tests/e2e/test_clips.py` cuts real ones from a live window)."""

from __future__ import annotations

import gcore
import pytest
from gcore import Gcore


def test_a_stream_without_dvr_is_a_422_naming_dvr_enabled(client: Gcore):
    stream = client.streaming.streams.create(name="no dvr", dvr_enabled=False)
    with pytest.raises(gcore.UnprocessableEntityError) as refused:
        client.streaming.streams.clips.create(stream.id, duration=10)
    assert "dvr_enabled" in refused.value.body["errors"]


def test_a_dvr_stream_not_live_is_a_400_saying_so(client: Gcore):
    stream = client.streaming.streams.create(name="dvr idle", dvr_enabled=True)
    with pytest.raises(gcore.BadRequestError) as refused:
        client.streaming.streams.clips.create(stream.id, duration=10)
    assert "not live" in str(refused.value.body)
    assert client.streaming.streams.clips.list(stream.id) == []


def test_bad_fields_and_unknown_streams(client: Gcore, http):
    stream = client.streaming.streams.create(name="dvr idle", dvr_enabled=True)
    for body, field in (({"duration": 0}, "duration"), ({"duration": 5, "start": -1}, "start"), ({}, "duration")):
        response = http.put(f"/streaming/streams/{stream.id}/clip_recording", json=body)
        assert response.status_code == 422 and field in response.json()["errors"], (body, response.text)
    with pytest.raises(gcore.NotFoundError):
        client.streaming.streams.clips.create(999999, duration=10)
    with pytest.raises(gcore.NotFoundError):
        client.streaming.streams.clips.list(999999)
