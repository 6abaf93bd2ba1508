"""The DVR window's commands (transcode/contract.py, transcode/commands.py): they cross the pipe
as they went, and a window changed before the source's first packets reaches the pipeline."""

from __future__ import annotations

from transcode.commands import WorkerContext
from transcode.contract import (
    RECORD_HEADER,
    ClearDvr,
    SetDvrWindow,
    WorkerConfig,
    config_record,
    decode_config,
    decode_message,
    encode_command,
)


def _round_trip(command):
    record = encode_command(command)
    kind, length = RECORD_HEADER.unpack(record[: RECORD_HEADER.size])
    assert kind == b"M" and len(record) == RECORD_HEADER.size + length
    return decode_message(record[RECORD_HEADER.size :])


def test_the_dvr_commands_and_config_cross_the_pipe():
    assert _round_trip(SetDvrWindow(1800.0)) == SetDvrWindow(1800.0)
    assert _round_trip(SetDvrWindow(None)) == SetDvrWindow(None)
    assert _round_trip(ClearDvr()) == ClearDvr()
    config = WorkerConfig(stream_id=3, out_dir="/x", dvr_seconds=40.0)
    assert decode_config(config_record(config)[RECORD_HEADER.size :]).dvr_seconds == 40.0
    assert config.packager().span.dvr_seconds == 40.0


def test_a_window_changed_before_the_pipeline_exists_is_the_one_it_starts_with():
    context = WorkerContext(WorkerConfig(stream_id=3, out_dir="/x"), send=lambda event: None)
    context.dispatch(SetDvrWindow(120.0))
    context.dispatch(ClearDvr())  # nothing to clear yet: no error
    assert context.config.dvr_seconds == 120.0
    assert context.config.packager().span.dvr_seconds == 120.0
