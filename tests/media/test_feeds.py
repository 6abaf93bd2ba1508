"""The node's feeds resume a publisher's input at a keyframe, as a new worker input needs it."""

from __future__ import annotations

import io
import subprocess

import av
import pytest

from ingest.media import AUDIO, DATA, VIDEO, MediaMessage
from ingest.mpegts import PACKET_SIZE, packet_header, pmt_pid, video_pid
from server.media.flv_feed import FlvFeed
from server.media.ts_feed import TsFeed


def ffmpeg_ts(*, video: bool = True, seconds: float = 3) -> bytes:
    inputs = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    if video:
        inputs = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", *inputs]
    codecs = (["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"] if video else []) + ["-c:a", "aac"]
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", *inputs, "-t", str(seconds), *codecs, "-f", "mpegts", "-"],
        check=True,
        capture_output=True,
    ).stdout


@pytest.fixture(scope="module")
def ts() -> bytes:
    return ffmpeg_ts()


def chunks(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


def feed_all(feed: TsFeed, pieces) -> bytes:
    return b"".join(feed.bytes_for(piece) for piece in pieces)


def first_video_packet(data: bytes) -> av.Packet:
    with av.open(io.BytesIO(data), format="mpegts") as container:
        return next(p for p in container.demux(video=0) if p.size)


@pytest.mark.parametrize("chunk_size", [1316, 1000, 7])
def test_ts_feed_resumes_mid_stream_at_tables_then_keyframe(ts, chunk_size):
    feed = TsFeed()
    middle = len(ts) // 2 // PACKET_SIZE * PACKET_SIZE + 3  # mid-GOP, not even packet-aligned
    out = feed_all(feed, chunks(ts[middle:], chunk_size))
    assert not feed.waiting and len(out) % PACKET_SIZE == 0
    pat, pmt, first = (packet_header(out[i : i + PACKET_SIZE]) for i in (0, PACKET_SIZE, 2 * PACKET_SIZE))
    assert pat.pid == 0 and pmt.pid == pmt_pid(pat.payload)
    assert first.pid == video_pid(pmt.payload) and first.random_access and first.unit_start
    assert first_video_packet(out).is_keyframe
    assert ts.endswith(out[2 * PACKET_SIZE :])  # everything after the keyframe, untouched


def test_ts_feed_passes_chunks_through_once_started_and_waits_again_after_restart(ts):
    feed = TsFeed()
    pieces = chunks(ts, 1316)
    feed_all(feed, pieces[:50])
    assert feed.bytes_for(pieces[50]) is pieces[50]
    feed.restart()
    outs = [feed.bytes_for(piece) for piece in pieces[51:]]
    resumed = next(i for i, out in enumerate(outs) if out)
    assert resumed > 0 and packet_header(outs[resumed][:PACKET_SIZE]).pid == 0
    assert first_video_packet(b"".join(outs)).is_keyframe


def test_ts_feed_skips_garbage_before_the_stream(ts):
    feed = TsFeed()
    out = feed_all(feed, chunks(b"\x47\x00garbage" * 100 + ts, 1316))
    assert first_video_packet(out).is_keyframe


def test_ts_feed_without_video_starts_at_the_first_audio_pes():
    audio_only = ffmpeg_ts(video=False, seconds=1)
    feed = TsFeed()
    out = feed_all(feed, chunks(audio_only[PACKET_SIZE * 40 :], 1316))
    with av.open(io.BytesIO(out), format="mpegts") as container:
        assert container.streams.audio and next(container.demux(audio=0)).size


def video(payload: bytes, ts: int = 0) -> MediaMessage:
    return MediaMessage(VIDEO, ts, payload)


SEQUENCE = video(b"\x17\x00\x00\x00\x00avcC")
KEY = video(b"\x17\x01\x00\x00\x00key", 40)
INTER = video(b"\x27\x01\x00\x00\x00inter", 80)
AAC_CONFIG = MediaMessage(AUDIO, 0, b"\xaf\x00\x12\x10")
AAC = MediaMessage(AUDIO, 20, b"\xaf\x01frame")
METADATA = MediaMessage(DATA, 0, b"\x02\x00\x0aonMetaData")


def test_flv_feed_holds_everything_until_a_keyframe_then_sends_the_header_first():
    feed = FlvFeed()
    for message in (METADATA, SEQUENCE, AAC_CONFIG, AAC, INTER):
        assert feed.bytes_for(message) == b""
    out = feed.bytes_for(KEY)
    assert out.startswith(b"FLV\x01")
    for marker in (b"onMetaData", b"avcC", b"\x12\x10", b"key"):
        assert marker in out
    assert out.index(b"avcC") < out.index(b"key")
    assert b"inter" in feed.bytes_for(INTER) and b"frame" in feed.bytes_for(AAC)


def test_flv_feed_restart_and_observed_headers():
    feed = FlvFeed()
    for message in (METADATA, SEQUENCE, AAC_CONFIG):
        feed.observe(message)  # a publisher on standby
    feed.restart()
    assert feed.bytes_for(INTER) == b""
    out = feed.bytes_for(KEY)
    assert out.startswith(b"FLV\x01") and b"avcC" in out and b"onMetaData" in out


def test_flv_feed_sends_script_tags_only_in_the_prefix_as_one_metadata_at_zero():
    """A repeated onMetaData (GStreamer's flvmux) or any other script tag with a timestamp
    would become a new stream in the worker's demuxer mid-input."""
    later_metadata = MediaMessage(DATA, 5000, b"\x02\x00\x0aonMetaData" + b"later")
    cue = MediaMessage(DATA, 6000, b"\x02\x00\x0aonCuePoint")
    feed = FlvFeed()
    for message in (METADATA, SEQUENCE, AAC_CONFIG):
        feed.bytes_for(message)
    assert feed.bytes_for(KEY)
    assert feed.bytes_for(later_metadata) == b"" and feed.bytes_for(cue) == b""
    feed.restart()
    out = feed.bytes_for(KEY)
    metadata_tag = out[13 : 13 + 11]
    assert metadata_tag[0] == DATA and metadata_tag[4:8] == b"\x00\x00\x00\x00"  # timestamp 0
    assert b"later" in out and b"onCuePoint" not in out


def flv_messages(flv: bytes) -> list[MediaMessage]:
    messages, position = [], 13
    while position + 11 <= len(flv):
        size = int.from_bytes(flv[position + 1 : position + 4], "big")
        timestamp = int.from_bytes(flv[position + 4 : position + 7], "big") | (flv[position + 7] << 24)
        messages.append(MediaMessage(flv[position], timestamp, flv[position + 11 : position + 11 + size]))
        position += 11 + size + 4
    return messages


def stream_types(flv: bytes) -> list[str]:
    """Every stream FFmpeg finds reading the whole input (`-count_packets` reads to the end)."""
    return (
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-count_packets",
                "-show_entries",
                "stream=codec_type",
                "-of",
                "csv=p=0",
                "-f",
                "flv",
                "-",
            ],
            input=flv,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split()
    )


def test_flv_feed_of_a_gstreamer_publisher_has_only_audio_and_video(tmp_path):
    clip = tmp_path / "gstreamer.flv"
    subprocess.run(
        [
            "gst-launch-1.0",
            "-q",
            "-e",
            "videotestsrc",
            "num-buffers=75",
            "!",
            "video/x-raw,width=160,height=120,format=I420",
            "!",
            "x264enc",
            "speed-preset=ultrafast",
            "!",
            "h264parse",
            "!",
            "flvmux",
            "streamable=true",
            "name=mux",
            "!",
            "filesink",
            f"location={clip}",
            "audiotestsrc",
            "num-buffers=130",
            "!",
            "voaacenc",
            "!",
            "aacparse",
            "!",
            "mux.",
        ],
        check=True,
        timeout=60,
    )
    gstreamer = clip.read_bytes()
    assert stream_types(gstreamer) == ["video", "audio", "subtitle"]
    feed = FlvFeed()
    out = b"".join(feed.bytes_for(message) for message in flv_messages(gstreamer))
    assert stream_types(out) == ["video", "audio"]
