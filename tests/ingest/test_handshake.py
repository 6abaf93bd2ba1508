import pytest

from ingest.rtmp.handshake import PACKET_SIZE, HandshakeError, ServerHandshake


def test_s2_echoes_c1_and_leftover_is_kept():
    c1 = bytes(range(256)) * 6
    handshake = ServerHandshake()
    reply = handshake.feed(b"\x03" + c1[:100])
    assert reply == b"" and not handshake.done
    reply = handshake.feed(c1[100:])
    assert len(reply) == 1 + 2 * PACKET_SIZE and reply[0] == 3 and reply[1 + PACKET_SIZE :] == c1
    assert handshake.feed(b"c" * (PACKET_SIZE - 1)) == b"" and not handshake.done
    handshake.feed(b"c" + b"\x02chunk")
    assert handshake.done and handshake.leftover == b"\x02chunk"


def test_c0_c1_c2_in_one_block():
    handshake = ServerHandshake()
    reply = handshake.feed(b"\x03" + bytes(PACKET_SIZE) + bytes(PACKET_SIZE))
    assert len(reply) == 1 + 2 * PACKET_SIZE and handshake.done and handshake.leftover == b""


@pytest.mark.parametrize("first", [b"\x06", b"G", b"\x16"])  # encrypted RTMP, HTTP, TLS
def test_wrong_version_is_refused(first):
    with pytest.raises(HandshakeError):
        ServerHandshake().feed(first + bytes(10))


def test_empty_feed_waits():
    handshake = ServerHandshake()
    assert handshake.feed(b"") == b"" and not handshake.done
