"""Settings that depend on one another."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.settings import Settings


def test_an_rtmp_publisher_rests_at_most_half_a_part_unless_told():
    """With 0.2 s parts the default 0.25 s rest would deliver parts in pairs."""
    assert Settings().ingest_read_interval == 0.25  # half of the default 0.5 s part
    assert Settings(part_target=0.2).ingest_read_interval == 0.1
    assert Settings(part_target=1.0).ingest_read_interval == 0.25
    assert Settings(part_target=0.2, ingest_read_interval=0.3).ingest_read_interval == 0.3  # as set


def test_a_playback_secret_shorter_than_128_bits_is_refused():
    assert Settings().playback_secret is None
    assert Settings(playback_secret="").playback_secret is None  # compose's `${X:-}`: unset
    assert Settings(playback_secret="a" * 32).playback_secret.get_secret_value() == "a" * 32
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(playback_secret="a" * 31)


def test_a_webhook_url_must_be_http():
    assert Settings(webhook_url="https://hooks.example/x").webhook_url == "https://hooks.example/x"
    assert Settings(webhook_url="").webhook_url is None  # compose's empty `${X:-}`: unset
    with pytest.raises(ValueError, match="http:// or https://"):
        Settings(webhook_url="ftp://hooks.example/x")
