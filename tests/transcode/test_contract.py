"""The contract's encoder and decoder (transcode/contract.py): what crosses the pipe comes
back as it went, and what does not follow the contract is refused with a clear error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from packager.resume import ResumePoint, TsResume
from transcode.contract import (
    RECORD_HEADER,
    VERSION,
    ContractError,
    Degraded,
    InputData,
    Part,
    StartInput,
    WorkerConfig,
    config_record,
    decode_config,
    decode_event,
    encode_command,
    encode_event,
    event_from_plain,
)
from transcode.ladder import Rendition


def test_the_config_crosses_the_pipe_whole():
    config = WorkerConfig(
        stream_id=3,
        out_dir="/tmp/x",
        pull_urls=("http://u:p@h/a.m3u8",),
        renditions=[Rendition("360p", 640, 360, 800)],
        resume=ResumePoint(msn=7, discontinuity_sequence=1, init_generation=2, ts={"origin": TsResume(4, 1)}),
    )
    payload = config_record(config)[RECORD_HEADER.size :]
    assert decode_config(payload) == config
    assert "u:p" not in " ".join(config.labels())


def test_a_config_of_another_version_is_refused():
    with pytest.raises(ContractError, match="version"):
        decode_config(b'{"v": %d, "config": {"stream_id": 1, "out_dir": "/x"}}' % (VERSION + 1))


def test_events_cross_the_pipe_whole_typed_or_plain():
    part = Part(
        rendition="origin",
        msn=3,
        part=1,
        path="origin/seg_3.1.m4s",
        duration=0.5,
        independent=True,
        file="origin/seg_3.m4s",
        offset=100,
        size=2000,
        discontinuity_sequence=0,
    )
    assert decode_event(encode_event(part)) == part
    assert decode_event(encode_event(part.plain())) == part  # the packager's dict
    degraded = Degraded(dropped="720p", reason="slow", renditions=["origin", "360p"])
    assert decode_event(encode_event(degraded)) == degraded


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b'{"v": 2, "event": "no_such_event"}\n',
        b'{"v": 2, "event": "part", "msn": 1}\n',
        b'{"event": "ended"}\n',
        b"[1]\n",
    ],
)
def test_a_line_that_is_no_event_of_this_contract_is_refused(line):
    with pytest.raises(ContractError):
        decode_event(line)


def test_the_packagers_plain_events_are_checked_at_the_worker():
    with pytest.raises(ContractError):
        encode_event({"event": "segment", "path": "x"})
    with pytest.raises(ContractError):
        event_from_plain({"event": "removed", "paths": [], "extra": 1})


def test_the_media_commands_are_records():
    assert encode_command(StartInput("flv")) == b"S\x00\x00\x00\x03flv"
    assert encode_command(InputData(b"ab")) == b"D\x00\x00\x00\x02ab"
    with pytest.raises(ContractError):
        encode_command(StartInput("mp4"))


def test_a_worker_whose_stdin_does_not_start_with_its_config_says_so(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "transcode.worker", "--stream", "1"],
        input=encode_command(StartInput("flv")),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    error = decode_event(done.stdout.splitlines()[0])
    assert "config" in error.message
