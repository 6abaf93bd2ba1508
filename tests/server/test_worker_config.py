"""What the supervisor tells every worker, whatever its ingest (as the worker reads it from its
pipe): here, the clock URL its MPD gives players."""

from __future__ import annotations

import pytest

from server.media.supervisor import Supervisor
from server.settings import Settings
from transcode.contract import RECORD_HEADER, config_record, decode_config


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"public_host": "media.example", "http_port": 8081}, "http://media.example:8081/time"),
        ({"public_http_url": "https://cdn.example.com/"}, "https://cdn.example.com/time"),
    ],
)
def test_the_mpds_utc_timing_is_the_nodes_absolute_clock_url(tmp_path, overrides, expected):
    """GStreamer's dashdemux cannot resolve a relative UTCTiming URL: the MPD's is absolute,
    built from the public HTTP base as every other URL the node hands out."""
    supervisor = Supervisor(Settings(data_dir=tmp_path, **overrides), db_sessions=None)
    config = decode_config(config_record(supervisor.worker_config(7, True, []))[RECORD_HEADER.size :])
    assert config.packager().utc_timing_url == expected
