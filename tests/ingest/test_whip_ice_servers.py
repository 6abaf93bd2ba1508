"""STUN/TURN servers for WHIP (HEADWATER_WHIP_ICE_SERVERS): parsed and checked in settings,
handed to aioice through aiortc, advertised in the answer's Link header (RFC 9725)."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcicetransport import connection_kwargs

from ingest.whip.ice_servers import IceServer, link_header, parse_ice_servers
from server.settings import Settings
from tests.support.stun import StunResponder

TURN = '[{"urls": ["turn:turn.example.net:3478?transport=udp"], "username": "pub", "credential": "s3\\"cret"}]'


def test_urls_or_webrtc_json():
    assert parse_ice_servers("stun:stun.example.net:3478, stun:198.51.100.1") == (
        IceServer("stun:stun.example.net:3478"),
        IceServer("stun:198.51.100.1"),
    )
    (turn,) = parse_ice_servers(TURN)
    assert turn == IceServer("turn:turn.example.net:3478?transport=udp", "pub", 's3"cret')
    kwargs = connection_kwargs([RTCIceServer(turn.url, turn.username, turn.credential)])
    assert kwargs["turn_server"] == ("turn.example.net", 3478) and kwargs["turn_password"] == 's3"cret'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://stun.example.net", "want stun:HOST"),
        ("turn:turn.example.net", "needs a username and a credential"),
        ('[{"username": "u"}]', "without urls"),
        ('{"urls": "stun:a"}', "want stun:HOST"),
    ],
)
def test_bad_servers_are_refused_at_start(text, reason):
    with pytest.raises(ValueError, match=reason):
        Settings(whip_ice_servers=text)


def test_the_link_header_advertises_every_server_and_turn_credentials():
    settings = Settings(whip_ice_servers=TURN)
    assert 's3"cret' not in repr(settings) and 's3\\"cret' not in repr(settings)  # a secret: never in a log line
    servers = (IceServer("stun:stun.example.net"), *settings.whip_ice_server_list)
    assert link_header(servers) == (
        '<stun:stun.example.net>; rel="ice-server", '
        '<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="pub"; '
        'credential="s3\\"cret"; credential-type="password"'
    )
    assert Settings(whip_ice_servers="").whip_ice_server_list == ()


async def test_aiortc_gathers_a_server_reflexive_candidate_from_the_stun_server():
    stun_server = StunResponder("203.0.113.9").start()
    try:
        (server,) = parse_ice_servers(f"stun:127.0.0.1:{stun_server.port}")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(server.url)]))
        pc.addTransceiver("video", direction="recvonly")
        await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), 10)
        candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")]
        await pc.close()
    finally:
        stun_server.close()
    assert any(" 203.0.113.9 " in line and "typ srflx" in line for line in candidates), candidates
