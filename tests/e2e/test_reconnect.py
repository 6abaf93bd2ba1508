"""An encoder that disconnects and reconnects (OBS does on any network hiccup) makes a new
session on the node; its worker continues the stream's numbering as a restarted worker does
(server/media/succession.py): numbers rise after a counted discontinuity, no URL names other
bytes than before, the MPD keeps its clock, the new media decode — whether it comes back while
the old worker is still finishing, within the ended stream's grace, or after it."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.media_check import segment_maps
from tests.e2e.restart_check import LLHLS, Snapshot, check_continues, wait_for_segments
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.publisher import ffmpeg_publish

GRACE_PASSED = 30  # seconds to wait for an ended stream to be forgotten (ENDED_GRACE is 10)


def publish(url: str) -> subprocess.Popen:
    return ffmpeg_publish(url, seconds=60, container="mpegts" if url.startswith("srt:") else "flv")


def stop(publisher: subprocess.Popen) -> None:
    publisher.terminate()  # ffmpeg closes its connection, as an encoder that stops does
    try:
        publisher.wait(timeout=10)
    except subprocess.TimeoutExpired:
        publisher.kill()
        publisher.wait()


def ended(http: httpx.Client, stream_id: int) -> bool:
    return "#EXT-X-ENDLIST" in http.get(f"/live/{stream_id}/{LLHLS}").text


def media_bytes(http: httpx.Client, stream_id: int, snapshot: Snapshot) -> dict[str, bytes]:
    """Every media URL the snapshot's playlists name (init, segments, parts, TS), with its bytes."""
    llhls = parse_media_playlist(snapshot.llhls)
    names = {s.uri for s in llhls.segments} | {p.uri for s in llhls.segments for p in s.parts}
    names |= {p.uri for p in llhls.pending_parts} | set(segment_maps(snapshot.llhls).values())
    names |= {s.uri for s in parse_media_playlist(snapshot.ts).segments}
    return {name: http.get(f"/live/{stream_id}/origin/{name}").raise_for_status().content for name in names}


def assert_same_bytes_or_gone(http: httpx.Client, stream_id: int, old: dict[str, bytes]) -> None:
    for name, data in old.items():
        response = http.get(f"/live/{stream_id}/origin/{name}")
        assert response.status_code == 404 or response.content == data, f"{name} now names other bytes"


def assert_master_leads_to_live_playlists(http: httpx.Client, stream_id: int, before: Snapshot) -> None:
    """A player (re)loading the stream now gets the new worker's live playlists."""
    variants, _ = parse_master_playlist(http.get(f"/live/{stream_id}/master.m3u8").raise_for_status().text)
    playlist = parse_media_playlist(http.get(f"/live/{stream_id}/{variants[0].uri}").raise_for_status().text)
    assert not playlist.ended and playlist.media_sequence > before.last_msn


def assert_resumed(http, stream_id: int, before, seen: dict[str, bytes]) -> None:
    """The new worker's output continues `before`, the old URLs kept their bytes, and the
    master playlist leads to the new live playlists."""
    wait_for_segments(http, stream_id, after=before)
    check_continues(http, stream_id, before)
    assert_same_bytes_or_gone(http, stream_id, seen)
    assert_master_leads_to_live_playlists(http, stream_id, before)


def test_an_rtmp_encoder_reconnecting_within_and_after_the_grace_numbers_on(media_node, http, new_stream):
    stream = new_stream()
    stream_id, url = stream["id"], stream["push_url"]
    seen: dict[str, bytes] = {}
    publisher = publish(url)
    try:
        wait_for_segments(http, stream_id)
        for attempt in ("within the grace", "after the grace"):
            stop(publisher)
            wait_for(lambda: ended(http, stream_id), what="the final playlist")
            before = Snapshot.read(http, stream_id)
            seen |= media_bytes(http, stream_id, before)
            if attempt == "after the grace":
                wait_for(
                    lambda: http.get(f"/live/{stream_id}/master.m3u8").status_code == 404,
                    timeout=GRACE_PASSED,
                    what="the ended stream to be forgotten",
                )
            publisher = publish(url)
            assert_resumed(http, stream_id, before, seen)
    finally:
        publisher.kill()
        publisher.wait()
    assert "did not exit" not in media_node.log() and "Traceback" not in media_node.log()


@pytest.mark.parametrize("protocol", ["rtmp", "srt"])
def test_an_encoder_back_at_once_waits_for_the_finishing_worker(media_node, http, new_stream, protocol):
    """Back before the old worker has written its last segments: the new worker starts after
    it, past every number it used."""
    stream = new_stream()
    stream_id = stream["id"]
    url = stream["push_url"] if protocol == "rtmp" else stream["push_url_srt"]
    publisher = publish(url)
    try:
        wait_for_segments(http, stream_id)
        before = Snapshot.read(http, stream_id)
        seen = media_bytes(http, stream_id, before)
        stop(publisher)
        publisher = publish(url)
        assert_resumed(http, stream_id, before, seen)
    finally:
        publisher.kill()
        publisher.wait()
