"""WHIP end to end: aiortc publishes H.264 + Opus to the node, the HLS output plays, DELETE
ends it; and every kind of bad offer or credential gets its own clear 4xx."""

from __future__ import annotations

import asyncio
import io
import socket

import av
import httpx
import pytest

from tests.e2e.conftest import fetch_ok, wait_for
from tests.support import whip_client
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.init_conformance import conformance, conformed
from tests.support.mpd_conformance import watch_mpd
from tests.support.node import Node
from tests.support.ports import free_port
from tests.support.stun import StunResponder
from tests.support.whip_client import WhipPublisher

UDP_PORTS = 40  # the node's WebRTC sockets bind in a range of this many ports (HEADWATER_WHIP_UDP_PORTS)
WORKER_STARTS = 2  # sessions one stream may start in a row
NAT_ADDRESS = "203.0.113.9"  # what the test's STUN server says the node's public address is


@pytest.fixture(scope="module")
def whip_node(tmp_path_factory):
    low = min(free_port(socket.SOCK_DGRAM), 65535 - UDP_PORTS)
    stun_server = StunResponder(NAT_ADDRESS).start()
    env = {
        "HEADWATER_WHIP_ICE_LOOPBACK": "true",
        "HEADWATER_WHIP_UDP_PORTS": f"{low}-{low + UDP_PORTS - 1}",
        "HEADWATER_WHIP_ICE_SERVERS": f"stun:127.0.0.1:{stun_server.port}",
        "HEADWATER_WORKER_START_BURST": str(WORKER_STARTS),  # every test here uses a stream of its own
    }
    node = Node(tmp_path_factory.mktemp("whip-node"), env=env).start()
    node.udp_ports = (low, low + UDP_PORTS - 1)
    node.stun_server = stun_server
    yield node
    node.stop()
    stun_server.close()


@pytest.fixture
def api(whip_node):
    with httpx.Client(base_url=whip_node.base_url, headers=whip_node.headers, timeout=30) as client:
        yield client


def new_stream(api: httpx.Client, **fields) -> dict:
    response = api.post("/streaming/streams", json={"name": "whip", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def offer_sdp(**kwargs) -> str:
    return whip_client.offer_sdp(loopback=True, **kwargs)


def decode(data: bytes, kind: str) -> list:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        return list(container.decode(stream))


@pytest.fixture(scope="module")
def session(whip_node):
    """One real WHIP publication, watched as a player and through the API, then DELETEd."""
    seen: dict = {}
    with httpx.Client(base_url=whip_node.base_url, headers=whip_node.headers, timeout=30) as api:
        stream = new_stream(api)
        base = f"/live/{stream['id']}"

        async def scenario() -> None:
            publisher = WhipPublisher(stream["push_url_whip"], stream["token"])
            seen["post"] = await publisher.publish()
            assert seen["post"].status_code == 201, seen["post"].text
            seen["live"] = await asyncio.to_thread(
                wait_for,
                lambda: (s := api.get(f"/streaming/streams/{stream['id']}").json())["live"] and s,
                30,
                0.2,
                "live via WHIP",
            )
            seen["second"] = await WhipPublisher(stream["push_url_whip"], stream["token"]).publish()
            pusher = await asyncio.create_subprocess_exec(
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "quiet",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x120:rate=25",
                "-t",
                "3",
                "-c:v",
                "libx264",
                "-f",
                "flv",
                stream["push_url"],
            )
            seen["rtmp_exit"] = await pusher.wait()
            await asyncio.to_thread(read_output, api, base, seen)
            seen["delete"] = await publisher.stop()
            seen["after"] = await asyncio.to_thread(
                wait_for,
                lambda: (s := api.get(f"/streaming/streams/{stream['id']}").json())["live"] is False and s,
                20,
                0.2,
                "offline after DELETE",
            )
            seen["final"] = await asyncio.to_thread(
                wait_for,
                lambda: (r := fetch_ok(api, seen["playlist_url"])) and "#EXT-X-ENDLIST" in r.text and r.text,
                20,
                0.2,
                "ENDLIST after DELETE",
            )
            seen["delete_again"] = await asyncio.to_thread(httpx.delete, publisher.location)

        asyncio.run(scenario())
    return seen


def read_output(api: httpx.Client, base: str, seen: dict) -> None:
    master = wait_for(lambda: fetch_ok(api, f"{base}/master.m3u8"), 20, what="master playlist").text
    variants, media = parse_master_playlist(master)
    seen["variants"], seen["media"] = variants, media
    url = seen["playlist_url"] = f"{base}/{variants[0].uri}"
    playlist = wait_for(
        lambda: (r := fetch_ok(api, url)) and len((p := parse_media_playlist(r.text)).segments) >= 2 and p,
        30,
        0.3,
        "two video segments",
    )
    directory = url.rsplit("/", 1)[0]
    init = api.get(f"{directory}/init.mp4").content
    seen["video_frames"] = [decode(init + api.get(f"{directory}/{s.uri}").content, "video") for s in playlist.segments]
    audio_url = f"{base}/{next(m for m in media if m['TYPE'] == 'AUDIO')['URI']}"
    audio_dir = audio_url.rsplit("/", 1)[0]
    audio = wait_for(
        lambda: (
            (r := fetch_ok(api, audio_url)) and parse_media_playlist(r.text).segments and parse_media_playlist(r.text)
        ),
        20,
        0.3,
        "audio segments",
    )
    audio_init = api.get(f"{audio_dir}/init.mp4").content
    seen["audio_frames"] = decode(audio_init + api.get(f"{audio_dir}/{audio.segments[0].uri}").content, "audio")
    seen["mpd_watch"] = watch_mpd(api, f"{base}/index.mpd", seconds=3)
    seen["conformance"] = conformance(api, int(base.rsplit("/", 1)[1]))


def test_publish_answers_201_with_sdp_and_a_location(session, whip_node):
    post = session["post"]
    assert post.headers["content-type"].startswith("application/sdp")
    candidates = [line.split() for line in post.text.splitlines() if line.startswith("a=candidate:")]
    ports = [int(fields[5]) for fields in candidates]
    low, high = whip_node.udp_ports
    assert ports and all(low <= port <= high for port in ports), (ports, low, high)  # and media flowed through them
    reflexive = [fields for fields in candidates if fields[7] == "srflx"]  # from the test's STUN server
    assert reflexive and all(fields[4] == NAT_ADDRESS for fields in reflexive), candidates
    assert post.headers["link"] == f'<stun:127.0.0.1:{whip_node.stun_server.port}>; rel="ice-server"'
    assert post.text.startswith("v=0") and "H264" in post.text and "opus" in post.text
    assert post.headers["location"].startswith("/whip/")
    assert post.headers["access-control-expose-headers"] == "Location, Link"


def test_status_says_live_from_webrtc(session):
    live = session["live"]
    assert live["stream_source_type"] == "webrtc"
    assert (live["video_width"], live["video_height"]) == (160, 120)


def test_a_second_publisher_is_refused_while_one_is_live(session):
    assert session["second"].status_code == 409
    assert session["rtmp_exit"] != 0  # RTMP to the same stream is refused too


def test_hls_output_plays_h264_and_aac(session):
    codecs = session["variants"][0].attributes["CODECS"]
    assert codecs.startswith("avc1.") and "mp4a.40.2" in codecs
    frames = session["video_frames"]
    assert all(frames) and {(f.width, f.height) for run in frames for f in run} == {(160, 120)}
    assert sum(len(run) for run in frames) >= 25  # ≥ 1 s of video at 25 fps
    audio = session["audio_frames"]
    assert audio and audio[0].sample_rate == 48000 and sum(f.samples for f in audio) >= 48000


def test_dash_output_keeps_what_it_announced_across_refreshes(session):
    session["mpd_watch"].assert_conformant()


def test_init_segments_and_manifests_agree_with_the_aac_encoder(session):
    """Opus is encoded to 48 kHz stereo AAC: the init segments, the MPD and the master say so."""
    audio = conformed(session["conformance"])["audio"]
    assert (audio.timescale, audio.channel_count) == (48000, 2)


def test_delete_ends_the_session_and_the_stream_goes_offline(session):
    assert session["delete"].status_code == 200
    assert session["after"]["live"] is False and session["after"]["stream_source_type"] is None
    assert "#EXT-X-ENDLIST" in session["final"]
    assert session["delete_again"].status_code == 404


def post_offer(node: Node, stream: dict, sdp: str, token: str | None = None, **headers) -> httpx.Response:
    token = stream["token"] if token is None else token
    return httpx.post(
        stream["push_url_whip"],
        content=sdp,
        timeout=30,
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}", **headers},
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"video": None}, "no video"),
        ({"video": "video/VP8"}, "VP8"),
        ({"audio": False}, "no Opus audio"),
    ],
)
def test_offers_without_h264_video_or_opus_audio_are_refused(whip_node, api, kwargs, reason):
    stream = new_stream(api)
    response = post_offer(whip_node, stream, offer_sdp(**kwargs))
    assert response.status_code == 422 and reason in response.text
    assert api.get(f"/streaming/streams/{stream['id']}").json()["live"] is False


def test_offers_beyond_the_streams_worker_starts_get_429(whip_node, api):
    """Each session is a worker: a stream that started WORKER_STARTS in a row refuses the next
    offer with 429 (its sessions ended at once, as a looping client's would)."""
    stream = new_stream(api)

    def offer_once_free() -> httpx.Response:  # 409 while the last session's worker still exits
        return wait_for(
            lambda: (answer := post_offer(whip_node, stream, offer_sdp())).status_code != 409 and answer,
            what="the stream's last session to end",
        )

    for _ in range(WORKER_STARTS):
        answer = offer_once_free()
        assert answer.status_code == 201, answer.text
        session = httpx.URL(stream["push_url_whip"]).join(answer.headers["location"])
        bearer = {"Authorization": f"Bearer {stream['token']}"}
        assert httpx.delete(session, headers=bearer, timeout=30).status_code == 200
    refused = offer_once_free()
    assert refused.status_code == 429 and "too many sessions" in refused.text
    assert whip_node.log().count(f"stream {stream['id']}: {WORKER_STARTS} worker starts within") == 1


@pytest.mark.parametrize("sdp", ["hello", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ngarbage line\r\n", "v=0\r\ns=-\r\n", ""])
def test_malformed_sdp_is_400(whip_node, api, sdp):
    response = post_offer(whip_node, new_stream(api), sdp)
    assert response.status_code == 400 and "malformed" in response.text


def test_credentials_and_stream_state_are_checked_first(whip_node, api):
    stream = new_stream(api)
    sdp = offer_sdp()
    assert post_offer(whip_node, stream, sdp, token="0" * 32).status_code == 403
    no_token = httpx.post(stream["push_url_whip"], content=sdp, headers={"Content-Type": "application/sdp"})
    assert no_token.status_code == 401
    unknown = httpx.post(
        f"{whip_node.base_url}/whip/999999",
        content=sdp,
        headers={"Content-Type": "application/sdp", "Authorization": "Bearer x"},
    )
    assert unknown.status_code == 404
    assert post_offer(whip_node, stream, sdp, **{"Content-Type": "text/plain"}).status_code == 415
    api.patch(f"/streaming/streams/{stream['id']}", json={"stream": {"active": False}})
    assert post_offer(whip_node, stream, sdp).status_code == 403


def test_preflight_and_publish_page(whip_node, api):
    stream = new_stream(api)
    preflight = httpx.options(
        stream["push_url_whip"], headers={"Origin": "http://example.test", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    page = httpx.get(f"{stream['push_url_whip']}/publish")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "getUserMedia" in page.text and f"/whip/{stream['id']}" in page.text
    assert "<script src" not in page.text  # nothing from a CDN


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM), reason="chromium not installed")
def test_the_publish_page_goes_live_from_chromium(whip_node, api):
    """The page as a user drives it: token in, "Go live" (fake camera and microphone), then Stop."""
    from playwright.sync_api import sync_playwright

    stream = new_stream(api)
    status = lambda: api.get(f"/streaming/streams/{stream['id']}").json()  # noqa: E731
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--allow-loopback-in-peer-connection",
            ],
        )
        try:
            tab = browser.new_page()
            tab.goto(f"{stream['push_url_whip']}/publish")
            tab.fill("#token", stream["token"])
            tab.click("#start")
            live = wait_for(lambda: (s := status())["live"] and s, 30, 0.3, "live from the browser")
            assert tab.text_content("#status") == "Live."
            base = f"/live/{stream['id']}"
            master = wait_for(lambda: fetch_ok(api, f"{base}/master.m3u8"), 20, what="master").text
            variants, _ = parse_master_playlist(master)
            url = f"{base}/{variants[0].uri}"
            playlist = wait_for(
                lambda: (r := fetch_ok(api, url)) and (p := parse_media_playlist(r.text)).segments and p,
                20,
                0.3,
                "a video segment",
            )
            directory = url.rsplit("/", 1)[0]
            frames = decode(
                api.get(f"{directory}/init.mp4").content + api.get(f"{directory}/{playlist.segments[0].uri}").content,
                "video",
            )
            tab.click("#stop")
            after = wait_for(lambda: (s := status())["live"] is False and s, 20, 0.3, "offline after Stop")
        finally:
            browser.close()
    assert live["stream_source_type"] == "webrtc"
    assert "avc1." in variants[0].attributes["CODECS"] and "mp4a.40.2" in variants[0].attributes["CODECS"]
    assert frames and (frames[0].width, frames[0].height) == (live["video_width"], live["video_height"])
    assert after["stream_source_type"] is None


def test_ffmpeg_whip_muxer_publishes(whip_node, api, tmp_path):
    """FFmpeg 8's own WHIP client: live from webrtc while it sends, offline once it closes."""
    import subprocess
    import sys

    from tests.support.ffmpeg_whip import ecdsa_certificate

    stream = new_stream(api)
    cert, key = ecdsa_certificate(tmp_path)
    publisher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.ffmpeg_whip",
            stream["push_url_whip"],
            stream["token"],
            "6",
            str(cert),
            str(key),
        ],
        stderr=subprocess.PIPE,
    )
    status = lambda: api.get(f"/streaming/streams/{stream['id']}").json()  # noqa: E731
    live = wait_for(lambda: (s := status())["live"] and s, 20, 0.3, "live from ffmpeg's whip muxer")
    master = wait_for(lambda: fetch_ok(api, f"/live/{stream['id']}/master.m3u8"), 20, what="master").text
    assert publisher.wait(timeout=30) == 0, publisher.stderr.read().decode()[-2000:]
    after = wait_for(lambda: (s := status())["live"] is False and s, 20, 0.3, "offline after ffmpeg closed")
    assert live["stream_source_type"] == "webrtc" and (live["video_width"], live["video_height"]) == (160, 120)
    assert "avc1." in master and "mp4a.40.2" in master
    assert after["stream_source_type"] is None


def test_a_lowered_resolution_is_reencoded_at_the_initial_one(whip_node, api):
    """The publisher drops from 160x120 to 128x96 after 2 s; the output stays 160x120."""
    stream = new_stream(api)
    base = f"/live/{stream['id']}"

    async def scenario() -> list:
        publisher = WhipPublisher(stream["push_url_whip"], stream["token"])
        assert (await publisher.publish(shrink_after=50)).status_code == 201
        try:
            return await asyncio.to_thread(read_segments_after, api, base, 5.0)
        finally:
            await publisher.stop()

    runs = asyncio.run(scenario())
    sizes = {(f.width, f.height) for run in runs for f in run}
    assert sizes == {(160, 120)}
    assert sum(len(run) for run in runs) >= 25 * 5  # frames kept coming across the change


def read_segments_after(api: httpx.Client, base: str, seconds: float) -> list:
    """Decoded frames of every complete video segment once `seconds` of segments exist."""
    master = wait_for(lambda: fetch_ok(api, f"{base}/master.m3u8"), 20, what="master").text
    url = f"{base}/{parse_master_playlist(master)[0][0].uri}"

    def enough():
        response = fetch_ok(api, url)
        playlist = response and parse_media_playlist(response.text)
        return playlist if playlist and sum(s.duration for s in playlist.segments) >= seconds else None

    playlist = wait_for(enough, 30, 0.3, f"{seconds}s of segments")
    directory = url.rsplit("/", 1)[0]
    init = api.get(f"{directory}/init.mp4").content
    return [decode(init + api.get(f"{directory}/{s.uri}").content, "video") for s in playlist.segments]
