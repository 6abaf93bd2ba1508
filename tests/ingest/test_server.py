"""End to end: real ffmpeg publishers (and a raw client for hostile input) against RtmpServer."""

import asyncio
import io
import logging

import av
import pytest

from ingest.flv import flv_header, flv_tag, is_sequence_header, is_video_keyframe
from ingest.media import AUDIO, DATA, VIDEO
from ingest.rtmp import amf0


async def test_ffmpeg_publish_end_to_end(server, authorizer, ffmpeg_publish):
    code, stderr = await ffmpeg_publish(
        f"rtmp://127.0.0.1:{server.port}/in/stream1?good", video=("-c:v", "libx264", "-g", "25")
    )
    assert code == 0, stderr
    sink = await authorizer.sink("stream1")
    await sink.wait_closed()

    request = sink.request
    assert (request.protocol, request.app, request.name, request.query) == ("rtmp", "in", "stream1", "good")
    assert request.peer.startswith("127.0.0.1:") and int(request.peer.rsplit(":", 1)[1]) > 0
    assert sink.close_reasons == ["unpublished"]

    messages = sink.messages
    assert messages[0].kind == DATA
    assert amf0.decode(messages[0].payload)[0] == "onMetaData"  # @setDataFrame stripped
    video = [m for m in messages if m.kind == VIDEO]
    audio = [m for m in messages if m.kind == AUDIO]
    assert is_sequence_header(video[0]) and is_sequence_header(audio[0])
    assert not any(is_sequence_header(m) for m in video[1:] + audio[1:])
    keyframes = [m for m in video if is_video_keyframe(m)]
    assert is_video_keyframe(video[1]) and len(keyframes) >= 3
    assert 2800 <= video[-1].timestamp <= 3200 and 2800 <= audio[-1].timestamp <= 3200
    timestamps = [m.timestamp for m in video]
    assert timestamps == sorted(timestamps)

    flv = flv_header() + b"".join(flv_tag(m) for m in messages)
    with av.open(io.BytesIO(flv), format="flv") as container:
        frames = list(container.decode(video=0))
    assert len(frames) >= 70
    assert (frames[0].width, frames[0].height) == (320, 240)


async def test_refused_publish_logs_without_token(server, authorizer, ffmpeg_publish, caplog):
    caplog.set_level(logging.INFO, logger="headwater.ingest.rtmp")
    code, _ = await ffmpeg_publish(f"rtmp://127.0.0.1:{server.port}/in/stream2?s3cr3t-token", seconds=1)
    assert code != 0
    assert [r.query for r in authorizer.requests] == ["s3cr3t-token"]
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "stream2" in refusals[0].getMessage()
    assert "s3cr3t" not in caplog.text
    assert "stream2" not in authorizer.sinks


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        ("unknown1?good", "NetStream.Publish.BadName"),
        ("stream3?bad", "NetStream.Publish.Denied"),
        ("stream4?good", "NetStream.Publish.Start"),
    ],
)
async def test_publish_status_codes(server, raw_client, stream, code):
    client = await raw_client.open(server.port)
    status = await client.publish("in?x=1", stream)
    assert status["code"] == code
    if code != "NetStream.Publish.Start":
        assert status["level"] == "error" and status["description"]
        assert await client.closed_by_server()
    client.close()


async def test_app_query_is_stripped(server, authorizer, raw_client):
    client = await raw_client.open(server.port)
    assert (await client.publish("live?token=x", "s5?good"))["code"] == "NetStream.Publish.Start"
    assert authorizer.requests[0].app == "live"
    client.close()
    await (await authorizer.sink("s5")).wait_closed()


async def test_ping_acknowledgement_and_play(server, raw_client):
    client = await raw_client.open(server.port)
    await client.publish("in", "pinger?good")
    client.send(4, b"\x00\x06\x00\x00\x30\x39", csid=2)  # ping request, timestamp 12345
    while (message := await client.read_message()).type_id != 4 or message.payload[:2] != b"\x00\x07":
        pass
    assert message.payload == b"\x00\x07\x00\x00\x30\x39"

    client.send(5, (1000).to_bytes(4, "big"), csid=2)  # ask for acks every 1000 bytes
    client.send(9, b"\x17\x00" + bytes(1500), csid=6, stream_id=1)
    while (message := await client.read_message()).type_id != 3:
        pass
    assert int.from_bytes(message.payload, "big") >= 1000
    client.close()

    player = await raw_client.open(server.port)
    await player.handshake()
    player.command("connect", 1.0, {"app": "in"})
    await player.read_command("_result")
    player.command("play", 2.0, None, "anything")
    status = await player.read_command("onStatus")
    assert status[3]["level"] == "error"
    assert await player.closed_by_server()


async def test_abort_message_discards_partial_message(server, authorizer, raw_client):
    client = await raw_client.open(server.port)
    await client.publish("in", "aborter?good")
    payload = b"\x17\x00" + bytes(300)
    first_chunk = client.chunks.encode(6, 9, 1, 0, payload)[: 12 + 128]
    client.writer.write(first_chunk)
    client.send(2, (6).to_bytes(4, "big"), csid=2)  # Abort csid 6
    client.send(9, b"\x17\x00\x01\x02", csid=6, stream_id=1, timestamp=5)
    client.send(20, amf0.encode("deleteStream", 4.0, None, 1.0))
    sink = await authorizer.sink("aborter")
    await sink.wait_closed()
    assert [(m.timestamp, m.payload) for m in sink.messages] == [(5, b"\x17\x00\x01\x02")]
    client.close()


# ---------------------------------------------------------------- robustness
# Each hostile client runs while a healthy ffmpeg publisher streams on the same server;
# afterwards the healthy stream must be complete and a new publisher must still get in.


async def assert_still_accepting(server, raw_client, name: str) -> None:
    client = await raw_client.open(server.port)
    assert (await client.publish("in", f"{name}?good"))["code"] == "NetStream.Publish.Start"
    client.close()


async def test_random_bytes_instead_of_handshake(server, raw_client, healthy_publisher):
    healthy = healthy_publisher()
    await asyncio.sleep(0.5)
    for seed in range(5):
        client = await raw_client.open(server.port)
        client.writer.write(bytes([0x47]) + __import__("random").Random(seed).randbytes(5000))
        assert await client.closed_by_server()
    # version byte right, then garbage everywhere: handshake passes, chunk parsing fails or times out
    client = await raw_client.open(server.port)
    client.writer.write(b"\x03" + __import__("random").Random(9).randbytes(200000))
    assert await client.closed_by_server()
    await healthy
    await assert_still_accepting(server, raw_client, "after-random")


async def test_truncated_handshake_times_out(server, raw_client, healthy_publisher, caplog):
    healthy = healthy_publisher()
    client = await raw_client.open(server.port)
    client.writer.write(b"\x03" + bytes(700))  # half a C1, then silence
    assert await client.closed_by_server()
    assert "handshake timed out" in caplog.text
    await healthy
    await assert_still_accepting(server, raw_client, "after-timeout")


@pytest.mark.parametrize("attack", ["chunk-size", "message-length"])
async def test_limits(server, authorizer, raw_client, healthy_publisher, attack):
    healthy = healthy_publisher()
    client = await raw_client.open(server.port)
    await client.publish("in", "attacker?good")
    if attack == "chunk-size":
        client.send(1, (64 * 1024 * 1024).to_bytes(4, "big"), csid=2)
    else:
        client.writer.write(b"\x06" + b"\x00\x00\x00" + b"\xff\xff\xff" + b"\x09" + b"\x01\x00\x00\x00")
    assert await client.closed_by_server()
    sink = await authorizer.sink("attacker")
    await sink.wait_closed()
    assert len(sink.close_reasons) == 1 and "limit" in sink.close_reasons[0]
    await healthy
    await assert_still_accepting(server, raw_client, "after-limits")


async def test_publisher_vanishes_mid_chunk(server, authorizer, raw_client, healthy_publisher):
    healthy = healthy_publisher()
    client = await raw_client.open(server.port)
    await client.publish("in", "vanisher?good")
    client.send(9, b"\x17\x00" + bytes(50), csid=6, stream_id=1)
    client.writer.write(client.chunks.encode(6, 9, 1, 40, b"\x27\x01" + bytes(5000))[:300])
    await client.writer.drain()
    client.writer.transport.abort()
    sink = await authorizer.sink("vanisher")
    await sink.wait_closed()
    await asyncio.sleep(0.1)
    assert len(sink.close_reasons) == 1
    assert len(sink.messages) == 1
    await healthy
    await assert_still_accepting(server, raw_client, "after-vanish")


@pytest.mark.parametrize(
    ("codec", "words"),
    [
        ({"video": ("-c:v", "flv"), "audio": ("-c:a", "aac")}, "Sorenson"),
        ({"video": ("-c:v", "libx264", "-preset", "ultrafast"), "audio": ("-c:a", "libmp3lame")}, "MP3"),
    ],
)
async def test_unsupported_codec_ends_that_connection(
    server, authorizer, ffmpeg_publish, raw_client, healthy_publisher, caplog, codec, words
):
    healthy = healthy_publisher()
    code, _ = await ffmpeg_publish(f"rtmp://127.0.0.1:{server.port}/in/oddcodec?good", seconds=2, **codec)
    sink = await authorizer.sink("oddcodec")
    await sink.wait_closed()
    assert len(sink.close_reasons) == 1 and words in sink.close_reasons[0]
    assert words in caplog.text
    assert code != 0 or not any(m.kind in (AUDIO, VIDEO) for m in sink.messages[5:])
    await healthy
    await assert_still_accepting(server, raw_client, "after-codec")


async def test_server_close_closes_sinks(authorizer, raw_client):
    from ingest.rtmp import RtmpServer

    server = RtmpServer(authorizer)
    await server.start("127.0.0.1", 0)
    client = await raw_client.open(server.port)
    await client.publish("in", "closing?good")
    await server.close()
    sink = await authorizer.sink("closing")
    assert sink.close_reasons == ["server shutting down"]
    assert await client.closed_by_server()


async def test_idle_publisher_is_dropped(authorizer, raw_client):
    from ingest.rtmp import RtmpServer

    server = RtmpServer(authorizer, idle_timeout=0.5)
    await server.start("127.0.0.1", 0)
    try:
        client = await raw_client.open(server.port)
        await client.publish("in", "idler?good")
        sink = await authorizer.sink("idler")
        await sink.wait_closed()
        assert sink.close_reasons == ["idle timeout"]
        assert await client.closed_by_server()
    finally:
        await server.close()


async def test_a_connection_that_never_publishes_is_closed(authorizer, raw_client):
    from ingest.rtmp import RtmpServer

    server = RtmpServer(authorizer, publish_timeout=0.5)
    await server.start("127.0.0.1", 0)
    try:
        client = await raw_client.open(server.port)
        await client.handshake()  # then connect only: no publish
        client.command("connect", 1.0, {"app": "in", "type": "nonprivate", "tcUrl": "rtmp://127.0.0.1/in"})
        assert await client.closed_by_server()
        publisher = await raw_client.open(server.port)  # one that publishes in time stays
        await publisher.publish("in", "prompt?good")
        sink = await authorizer.sink("prompt")
        await asyncio.sleep(1.0)  # past the deadline it would have had, on the same loop
        assert not sink.close_reasons
    finally:
        await server.close()


def test_under_uvloop(authorizer, ffmpeg_publish):
    """The node runs uvloop: one real publish through the server on a uvloop event loop."""
    uvloop = pytest.importorskip("uvloop")
    from ingest.rtmp import RtmpServer

    async def scenario():
        server = RtmpServer(authorizer)
        await server.start("127.0.0.1", 0)
        try:
            code, stderr = await ffmpeg_publish(f"rtmp://127.0.0.1:{server.port}/in/uv?good", seconds=1)
            assert code == 0, stderr
            sink = await authorizer.sink("uv")
            await sink.wait_closed()
            return sink
        finally:
            await server.close()

    sink = uvloop.run(scenario())
    assert sink.close_reasons == ["unpublished"]
    assert sum(m.kind == VIDEO for m in sink.messages) >= 24
