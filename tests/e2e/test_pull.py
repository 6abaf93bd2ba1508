"""PULL streams end to end: the node's worker reads sources served by the test.

One stream lists a dead URL, an RTMP server (ffmpeg `-listen 1`, 8 s) and a live HLS source:
round robin skips the dead one, plays RTMP, and when RTMP ends moves on to HLS with the
playlists continuing (media sequence going on, a discontinuity). Meanwhile a stream whose URL
answers HTML shows a clear error, and a stream with only dead URLs is deactivated after the
(tiny, for the test) give-up time; neither disturbs the first.
"""

from __future__ import annotations

import io

import av
import httpx
import pytest

from tests.e2e.conftest import fetch_ok, node_database_url, wait_for
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.init_conformance import audio_segment_ready, conformance, conformed
from tests.support.mpd_conformance import MpdWatch
from tests.support.node import Node
from tests.support.ports import free_port
from tests.support.publisher import ffmpeg_publish
from tests.support.sources import HttpDirectory, SilentServer, hls_writer, rtmp_server, srt_listener

GIVE_UP_AFTER = 8


@pytest.fixture(scope="module")
def pull_node(request, tmp_path_factory):
    env = {
        "HEADWATER_PULL_READ_TIMEOUT": "2",
        "HEADWATER_PULL_OPEN_TIMEOUT": "3",
        "HEADWATER_PULL_BACKOFF_MAX": "1",
        "HEADWATER_PULL_GIVE_UP_AFTER": str(GIVE_UP_AFTER),
    }
    node = Node(tmp_path_factory.mktemp("pull-node"), database_url=node_database_url(request), env=env).start()
    yield node
    node.stop()


def segments_with_maps(text: str) -> list[dict]:
    """Each segment of a media playlist with its EXT-X-MAP, msn and discontinuity flag."""
    playlist = parse_media_playlist(text)
    maps, current = [], None
    for line in text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            current = line.split('URI="')[1].split('"')[0]
        elif line and not line.startswith("#"):
            maps.append(current)
    return [
        {"uri": s.uri, "msn": s.msn, "discontinuity": s.discontinuity, "map": m}
        for s, m in zip(playlist.segments, maps)
    ]


def decode_size(data: bytes) -> tuple[int, int, int]:
    """(frames, width, height) decoded from init + segment bytes."""
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    return len(frames), frames[0].width, frames[0].height


def status(http: httpx.Client, stream_id: int) -> dict:
    return http.get(f"/streaming/streams/{stream_id}").json()


@pytest.fixture(scope="module")
def pulls(pull_node, tmp_path_factory):
    hls_dir = tmp_path_factory.mktemp("hls-source")
    seen: dict = {"msns": [], "sources": []}
    with (
        httpx.Client(base_url=pull_node.base_url, headers=pull_node.headers, timeout=15) as http,
        HttpDirectory(hls_dir) as web,
        SilentServer() as silent,
    ):
        hls = hls_writer(hls_dir, seconds=45)
        wait_for(lambda: (hls_dir / "index.m3u8").exists(), what="HLS source playlist")
        rtmp_url, rtmp = rtmp_server(seconds=8)
        srt_url, srt = srt_listener(seconds=20)
        srt_stream = http.post("/streaming/streams", json={"name": "srt", "pull": True, "uri": srt_url}).json()
        dead = f"rtmp://127.0.0.1:{free_port()}/live/dead"
        uri = f"{dead} {rtmp_url} {web.url('index.m3u8')}"
        stream = http.post("/streaming/streams", json={"name": "pull", "pull": True, "uri": uri}).json()
        html = http.post("/streaming/streams", json={"name": "html", "pull": True, "uri": web.url("page.html")}).json()
        hanging = f"http://127.0.0.1:{silent.port}/live.m3u8 rtmp://127.0.0.1:{silent.port}/live/x"
        gone = http.post("/streaming/streams", json={"name": "dead", "pull": True, "uri": f"{dead} {hanging}"}).json()
        seen.update(stream=stream, html=html, gone=gone)
        seen["live_rtmp"] = wait_for(
            lambda: (s := status(http, stream["id"]))["live"] and s, timeout=20, what="pull live from RTMP"
        )
        seen["srt_live"] = wait_for(
            lambda: (s := status(http, srt_stream["id"]))["live"] and s, timeout=20, what="pull live from SRT"
        )
        seen["srt_master"] = wait_for(
            lambda: fetch_ok(http, f"/live/{srt_stream['id']}/master.m3u8"), what="SRT master"
        ).text
        wait_for(lambda: audio_segment_ready(http, srt_stream["id"]), what="an SRT audio segment")
        seen["srt_conformance"] = conformance(http, srt_stream["id"])
        seen["html_status"] = wait_for(
            lambda: (s := status(http, html["id"]))["source_error"] and s, what="HTML error state"
        )
        base = f"/live/{stream['id']}"
        master = wait_for(lambda: fetch_ok(http, f"{base}/master.m3u8"), what="master").text
        variants, _ = parse_master_playlist(master)
        playlist_url = f"{base}/{variants[0].uri}"
        directory = playlist_url.rsplit("/", 1)[0]
        seen["mpd_watch"] = mpd = MpdWatch(http, f"{base}/index.mpd")

        def switched() -> list[dict] | None:
            mpd.poll()  # across the source switch: a new Period, the old one unchanged
            response = fetch_ok(http, playlist_url)
            if response is None:
                return None
            segments = segments_with_maps(response.text)
            seen["msns"].append(max((s["msn"] for s in segments), default=-1))
            seen["sources"].append(status(http, stream["id"])["stream_source_type"])
            flagged = [i for i, s in enumerate(segments) if s["discontinuity"]]
            return segments if flagged and len(segments) - flagged[-1] >= 2 else None

        segments = wait_for(switched, timeout=40, interval=0.5, what="a discontinuity, then 2 segments")
        seen["segments"] = segments
        seen["decoded"] = [
            decode_size(http.get(f"{directory}/{s['map']}").content + http.get(f"{directory}/{s['uri']}").content)
            for s in segments
        ]
        seen["live_hls"] = status(http, stream["id"])
        ts_variants, _ = parse_master_playlist(http.get(f"{base}/master_mpegts.m3u8").text)
        seen["ts_playlist"] = http.get(f"{base}/{ts_variants[0].uri}").text
        seen["gone_status"] = wait_for(
            lambda: (s := status(http, gone["id"]))["active"] is False and s,
            timeout=GIVE_UP_AFTER + 15,
            what="the dead-only stream deactivated",
        )
        seen["still_live"] = status(http, stream["id"])
        pusher = ffmpeg_publish(stream["push_url"], seconds=3)
        seen["push_exit"] = pusher.wait(timeout=30)
        patched = http.patch(f"/streaming/streams/{stream['id']}", json={"stream": {"pull": False}})
        assert patched.status_code == 200, patched.text
        seen["after_stop"] = wait_for(
            lambda: (s := status(http, stream["id"]))["live"] is False and s, what="offline after pull=false"
        )
        seen["final"] = wait_for(
            lambda: (r := fetch_ok(http, playlist_url)) and "#EXT-X-ENDLIST" in r.text and r.text,
            what="ENDLIST after pull=false",
        )
        rtmp.wait(timeout=20)
        srt.kill()
        srt.wait()
        hls.kill()
        hls.wait()
    return seen


def test_round_robin_skips_a_dead_url_and_plays_rtmp(pulls):
    live = pulls["live_rtmp"]
    assert live["stream_source_type"] == "rtmp"
    assert (live["video_width"], live["video_height"]) == (320, 240)
    assert live["source_error"] is None  # the dead URL's error is cleared once one works


def test_srt_source_through_the_ffmpeg_caller(pulls):
    live = pulls["srt_live"]
    assert live["stream_source_type"] == "srt"
    assert (live["video_width"], live["video_height"]) == (192, 144)
    variants, _ = parse_master_playlist(pulls["srt_master"])
    assert "avc1." in variants[0].attributes["CODECS"] and "mp4a.40.2" in variants[0].attributes["CODECS"]
    facts = conformed(pulls["srt_conformance"])
    assert facts["origin"].sps_size == (192, 144) and facts["audio"].timescale == 48000


def test_failover_to_hls_continues_the_playlist(pulls):
    segments = pulls["segments"]
    first_new = max(i for i, s in enumerate(segments) if s["discontinuity"])
    before, after = segments[:first_new], segments[first_new:]
    msns = [s["msn"] for s in segments]
    assert msns == list(range(msns[0], msns[0] + len(msns)))
    assert pulls["msns"] == sorted(pulls["msns"]), "media sequence went backwards"
    assert after[0]["map"] != (before[-1]["map"] if before else None)
    decoded = pulls["decoded"]
    assert all(frames > 0 for frames, _, _ in decoded)
    assert {(w, h) for _, w, h in decoded[first_new:]} == {(160, 120)}  # the HLS source
    if before:
        assert {(w, h) for _, w, h in decoded[:first_new]} == {(320, 240)}  # the RTMP source
    assert pulls["live_hls"]["live"] is True and pulls["live_hls"]["stream_source_type"] == "https"
    assert "https" in pulls["sources"] and "#EXT-X-DISCONTINUITY" in pulls["ts_playlist"]


def test_the_mpd_keeps_what_it_announced_across_the_switch(pulls):
    """The failover starts a new Period; the old one keeps its start and its segments."""
    watch = pulls["mpd_watch"]
    watch.assert_conformant()
    assert len(watch.announced.period_starts) >= 2, watch.texts[-1]


def test_html_answer_is_a_clear_error_on_that_stream_only(pulls):
    html = pulls["html_status"]
    assert html["live"] is False
    assert "Invalid data" in html["source_error"] and "page.html" in html["source_error"]
    assert pulls["still_live"]["live"] is True


def test_an_rtmp_push_to_a_stream_being_pulled_is_refused(pulls):
    assert pulls["push_exit"] != 0
    assert pulls["still_live"]["stream_source_type"] == "https"


def test_no_working_source_for_the_give_up_time_deactivates(pulls):
    """Its URLs refuse or accept and then never answer: timeouts keep the rotation going."""
    gone = pulls["gone_status"]
    assert gone["active"] is False and gone["live"] is False
    assert "deactivated" in gone["source_error"]


def test_pull_false_stops_the_worker_and_ends_the_playlists(pulls):
    assert pulls["after_stop"]["live"] is False
    assert "#EXT-X-ENDLIST" in pulls["final"]


@pytest.mark.both_databases
def test_a_pushed_stream_switched_to_pull_drops_its_publisher_and_numbers_on(pull_node):
    """The operator turns a live RTMP stream into a pulled one: the encoder is dropped (a
    pulled stream refuses pushes), the pull worker starts once the pushed one has finished,
    and the playlist goes on past the numbers the push reached."""
    with httpx.Client(base_url=pull_node.base_url, headers=pull_node.headers, timeout=15) as http:
        stream = http.post("/streaming/streams", json={"name": "push then pull"}).json()
        pusher = ffmpeg_publish(stream["push_url"], seconds=60)
        source_url, source = rtmp_server(seconds=30)
        try:
            base = f"/live/{stream['id']}"
            wait_for(lambda: status(http, stream["id"])["live"], what="live from the push")
            master = wait_for(lambda: fetch_ok(http, f"{base}/master.m3u8"), what="master").text
            playlist_url = f"{base}/{parse_master_playlist(master)[0][0].uri}"
            pushed = wait_for(
                lambda: (
                    (r := fetch_ok(http, playlist_url))
                    and len(parse_media_playlist(r.text).segments) >= 2
                    and parse_media_playlist(r.text)
                ),
                what="pushed segments",
            )
            patched = http.patch(
                f"/streaming/streams/{stream['id']}", json={"stream": {"pull": True, "uri": source_url}}
            )
            assert patched.status_code == 200, patched.text
            assert pusher.wait(timeout=20) is not None
            last_pushed = pushed.segments[-1].msn

            def pulled() -> bool:
                response = fetch_ok(http, playlist_url)
                if response is None:
                    return False
                segments = parse_media_playlist(response.text).segments
                return (
                    any(s.discontinuity and s.msn > last_pushed for s in segments)
                    and not parse_media_playlist(response.text).ended
                )

            wait_for(pulled, timeout=40, interval=0.5, what="pulled segments after the pushed ones")
        finally:
            pusher.kill()
            source.kill()
            pusher.wait()
            source.wait()
    log = pull_node.log()
    assert "dropping main publisher" in log and "stream now pulls its source" in log
    assert "did not exit" not in log
