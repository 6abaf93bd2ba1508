"""Writes the seed corpora under `fuzz/seeds/` from real captures: `python -m fuzz.seeds`.

RTMP: the client→server bytes of a real ffmpeg 5.1 publish (tests/ingest/data/ffmpeg_publish.bin),
cut into the handshake, the chunk stream, its AMF0 bodies and its media messages. MPEG-TS: the
first packets of ffmpeg's own mpegts output (H.264 + AAC, as an SRT publisher sends). SDP: an
offer made by aiortc with H.264 and Opus. The rest are the texts real clients send (streamids,
LL-HLS requests, API bodies in Gcore's shape). Every seed stays a few KB.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from fuzz.target import SEEDS
from ingest.rtmp.chunk import ChunkReader, RtmpMessage
from ingest.rtmp.handshake import PACKET_SIZE

RTMP_CAPTURE = Path(__file__).parent.parent / "tests" / "ingest" / "data" / "ffmpeg_publish.bin"
HANDSHAKE = 1 + 2 * PACKET_SIZE
SEED_BYTES = 4096


def rtmp_messages(chunks: bytes) -> list[RtmpMessage]:
    reader, found = ChunkReader(), []
    reader.feed(chunks)
    while (message := reader.next_message()) is not None:
        found.append(message)
        if message.type_id == 1:
            reader.set_chunk_size(int.from_bytes(message.payload[:4], "big"))
    return found


def mpegts_capture() -> bytes:
    """0.5 s of 160x120 H.264 + AAC in MPEG-TS, as `ffmpeg … -f mpegts srt://…` sends it."""
    command = [
        "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-f", "lavfi",
        "-i", "sine=frequency=440:sample_rate=48000", "-t", "0.5", "-c:v", "libx264", "-preset", "ultrafast",
        "-g", "5", "-c:a", "aac", "-b:a", "32k", "-f", "mpegts", "-",
    ]  # fmt: skip
    return subprocess.run(command, check=True, capture_output=True).stdout


async def sdp_offer() -> str:
    from aiortc import RTCPeerConnection, RTCRtpSender

    peer = RTCPeerConnection()
    video = peer.addTransceiver("video", direction="sendonly")
    video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == "H264"])
    peer.addTransceiver("audio", direction="sendonly")
    await peer.setLocalDescription(await peer.createOffer())
    offer = peer.localDescription.sdp
    await peer.close()
    return offer


def seeds() -> dict[str, list[bytes]]:
    capture = RTMP_CAPTURE.read_bytes()
    chunks = capture[HANDSHAKE:]
    messages = rtmp_messages(chunks)
    amf = [m.payload for m in messages if m.type_id in (18, 20)]
    media = [m for m in messages if m.type_id in (8, 9, 18)]
    records = b"".join(
        bytes((m.type_id % 3,)) + len(m.payload[:600]).to_bytes(2, "big") + m.payload[:600] for m in media
    )
    ts = mpegts_capture()
    offer = asyncio.run(sdp_offer()).encode()
    streams = [
        {"name": "studio"},
        {"name": "pull", "pull": True, "uri": "rtmp://origin.example/live/a srt://b.example:9000", "dvr_enabled": True},
        {"name": "srt", "srt_passphrase": "0123456789abcdef", "quality_set_id": 1, "cdn_id": 7},
    ]
    return {
        "rtmp_handshake": [capture[: HANDSHAKE + 64]],
        "rtmp_chunk": [chunks[:SEED_BYTES], chunks[SEED_BYTES : 2 * SEED_BYTES]],
        "amf0": [payload[:SEED_BYTES] for payload in amf],
        "rtmp_session": [chunks[: 2 * SEED_BYTES]],
        "flv": [records[:SEED_BYTES]],
        "mpegts": [ts[: 188 * 20], ts[188 * 20 : 188 * 40]],
        "srt_streamid": [b"in/12/abc", b"backup/7/tok3n", b"in/123456/" + b"t" * 40],
        "whip_sdp": [offer, offer.replace(b"H264", b"VP8")],
        "hls_query": [
            b"1/v0/index.m3u8?_HLS_msn=5&_HLS_part=2",
            b"1/v0/index.m3u8?_HLS_msn=6&_HLS_part=0&_HLS_skip=YES",
            b"1/v0/index.m3u8?_HLS_msn=4",
            b"1/master.m3u8",
            b"1/v0/seg_5.3.m4s",
            b"1/manifest.mpd",
            b"1/screenshot.jpg",
            b"%31/v0/index%2Em3u8?_HLS_msn=5",
        ],
        "api_bodies": [
            *(b"\x00" + json.dumps(body).encode() for body in streams),
            b"\x01" + json.dumps({"stream": {"active": False, "dvr_duration": 600, "client_user_id": 5}}).encode(),
            b"\x02" + json.dumps([{"url": "https://example.com/o", "width": 640, "height": 360, "x": 10}]).encode(),
            b"\x03" + json.dumps([{"id": 3, "stretch": True}]).encode(),
            b"\x04" + json.dumps({"x": 5, "y": 7}).encode(),
        ],
    }


def main() -> None:
    for name, inputs in seeds().items():
        directory = SEEDS / name
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            old.unlink()
        for index, data in enumerate(inputs):
            (directory / f"{index:02d}").write_bytes(data)
        print(f"{name}: {len(inputs)} seeds, {sum(map(len, inputs))} bytes")


if __name__ == "__main__":
    main()
