"""The operator's first start: a generated API key printed once, shown and rotated by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.support.node import Node


def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_generated_key_printed_once_then_shown_and_rotated(tmp_path):
    node = Node(tmp_path / "data")
    del node.env["HEADWATER_API_KEY"]
    node.start()
    try:
        printed = [line for line in node.log().splitlines() if "APIKey " in line]
        assert len(printed) == 1
        key = printed[0].split("APIKey ", 1)[1].strip()
        ok = httpx.get(f"{node.base_url}/streaming/streams", headers={"Authorization": f"APIKey {key}"})
        assert ok.status_code == 200
    finally:
        node.stop()

    env = {k: v for k, v in node.env.items() if k != "HEADWATER_API_KEY"}
    assert run_cli("api-key", env=env).stdout.strip() == key
    rotated = run_cli("api-key", "--rotate", env=env).stdout.strip()
    assert rotated and rotated != key
    assert run_cli("api-key", env=env).stdout.strip() == rotated

    node.start()  # restart: the rotated key works, the old one doesn't, nothing printed again
    try:
        assert node.log().count("APIKey ") == 1
        url = f"{node.base_url}/streaming/streams"
        assert httpx.get(url, headers={"Authorization": f"APIKey {rotated}"}).status_code == 200
        assert httpx.get(url, headers={"Authorization": f"APIKey {key}"}).status_code == 403
    finally:
        node.stop()


def test_flags_override_environment(tmp_path, monkeypatch):
    from server.cli import build_parser, settings_from

    monkeypatch.setenv("HEADWATER_HTTP_PORT", "1")
    monkeypatch.setenv("HEADWATER_RTMP_PORT", "2935")
    args = build_parser().parse_args(["serve", "--http-port", "9999", "--data-dir", str(tmp_path)])
    settings = settings_from(args)
    assert (settings.http_port, settings.rtmp_port, settings.data_dir) == (9999, 2935, tmp_path)
    result = run_cli("serve", "--help", env=dict(os.environ))
    assert result.returncode == 0 and "--public-host" in result.stdout


def test_periodic_timers_fall_on_the_rtmp_rest_ticks():
    """`on_rest_grid`: the multiple of the read interval nearest the wanted period."""
    from server.settings import Settings

    assert Settings(ingest_read_interval=0.3).on_rest_grid(1.0) == pytest.approx(0.9)
    assert Settings(ingest_read_interval=0.2).on_rest_grid(1.0) == pytest.approx(1.0)
    assert Settings(ingest_read_interval=0.5).on_rest_grid(0.1) == pytest.approx(0.5)  # at least one
    assert Settings(ingest_read_interval=0.0).on_rest_grid(1.0) == 1.0  # reading as data comes


def test_a_starting_node_clears_what_its_last_run_left_under_live(tmp_path):
    """No stream is live when a node starts: the last run's final playlists and windows go."""
    left = tmp_path / "data" / "live" / "5" / "origin"
    left.mkdir(parents=True)
    (left / "seg_0.m4s").write_bytes(b"old")
    (tmp_path / "data" / "live" / "stray.tmp").write_bytes(b"old")
    node = Node(tmp_path / "data").start()
    try:
        assert list((tmp_path / "data" / "live").iterdir()) == []
        assert httpx.get(f"{node.base_url}/live/5/origin/index.m3u8").status_code == 404
    finally:
        node.stop()


def test_serve_refuses_a_short_playback_secret_in_one_line(tmp_path):
    env = {**os.environ, "HEADWATER_DATA_DIR": str(tmp_path), "HEADWATER_PLAYBACK_SECRET": "too short"}
    result = run_cli("serve", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "headwater: invalid settings",
        (
            "  HEADWATER_PLAYBACK_SECRET: too short for a playback secret: at least 32 characters (128 bits), "
            "e.g. from `openssl rand -hex 32`"
        ),
    ]
    assert not (tmp_path / "headwater.db").exists()  # refused before anything started
