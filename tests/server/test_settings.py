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


def test_object_storage_is_all_four_settings_or_none():
    assert not Settings().object_storage and not Settings(s3_endpoint="", s3_bucket="").object_storage
    whole = Settings(s3_endpoint="http://s3:8333", s3_bucket="videos", s3_access_key="k", s3_secret_key="s" * 16)
    assert whole.object_storage and "s" * 16 not in repr(whole)  # the secret is never printed
    with pytest.raises(ValidationError, match="HEADWATER_S3_ENDPOINT"):
        Settings(s3_endpoint="http://s3:8333", s3_bucket="videos")


def test_a_node_is_reached_by_the_other_nodes_at_its_node_url_else_its_public_one():
    assert Settings(public_http_url="http://cache:8088/").node_base_url == "http://cache:8088"
    behind = Settings(public_http_url="http://cache:8088", node_http_url="http://node-1:8080/")
    assert behind.node_base_url == "http://node-1:8080" and behind.http_base_url == "http://cache:8088"
