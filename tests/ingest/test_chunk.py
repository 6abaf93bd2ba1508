import random
import struct

import pytest

from ingest.rtmp.chunk import MAX_CHUNK_SIZE, ChunkError, ChunkReader, ChunkWriter, RtmpMessage


def header(
    fmt: int,
    csid: int,
    ts: int | None = None,
    length: int | None = None,
    type_id: int | None = None,
    stream_id: int | None = None,
    ext: int | None = None,
) -> bytes:
    """A hand-made chunk header, independent of ChunkWriter."""
    if csid < 64:
        out = bytes(((fmt << 6) | csid,))
    elif csid < 320:
        out = bytes((fmt << 6, csid - 64))
    else:
        out = bytes(((fmt << 6) | 1, (csid - 64) & 0xFF, (csid - 64) >> 8))
    if fmt <= 2:
        out += ts.to_bytes(3, "big")
    if fmt <= 1:
        out += length.to_bytes(3, "big") + bytes((type_id,))
    if fmt == 0:
        out += struct.pack("<I", stream_id)
    if ext is not None:
        out += struct.pack(">I", ext)
    return out


def read_all(reader: ChunkReader, data: bytes, splits: list[int] | None = None) -> list[RtmpMessage]:
    messages = []
    pieces = [data[a:b] for a, b in zip([0, *splits], [*splits, len(data)])] if splits else [data]
    for piece in pieces:
        reader.feed(piece)
        while (message := reader.next_message()) is not None:
            messages.append(message)
    return messages


def feed_byte_by_byte(data: bytes, reader: ChunkReader | None = None) -> list[RtmpMessage]:
    return read_all(reader or ChunkReader(), data, list(range(1, len(data))))


def strip_csid(messages):
    return [(m.type_id, m.stream_id, m.timestamp, m.payload) for m in messages]


def test_all_header_formats_and_deltas():
    data = (
        header(0, 4, 1000, 3, 9, 1)
        + b"abc"
        + header(1, 4, 40, 2, 8)
        + b"de"
        + header(2, 4, 20)
        + b"fg"
        + header(3, 4)
        + b"hi"
    )
    expected = [(9, 1, 1000, b"abc"), (8, 1, 1040, b"de"), (8, 1, 1060, b"fg"), (8, 1, 1080, b"hi")]
    assert strip_csid(read_all(ChunkReader(), data)) == expected
    assert strip_csid(feed_byte_by_byte(data)) == expected


def test_fmt3_after_fmt0_reuses_the_timestamp_field_as_delta():
    # ffmpeg and librtmp treat a fmt 0 timestamp as the delta a following fmt 3 repeats.
    data = header(0, 5, 10, 1, 8, 1) + b"a" + header(3, 5) + b"b"
    assert [m.timestamp for m in read_all(ChunkReader(), data)] == [10, 20]


def test_multi_chunk_message_and_three_byte_csid():
    payload = bytes(range(256)) * 2
    data = header(0, 400, 7, len(payload), 9, 1) + payload[:128]
    for offset in range(128, len(payload), 128):
        data += header(3, 400) + payload[offset : offset + 128]
    (message,) = feed_byte_by_byte(data)
    assert message.payload == payload and message.csid == 400 and message.timestamp == 7


def test_extended_timestamp_repeated_in_continuations():
    ts = 0x01020304
    payload = b"x" * 200
    data = header(0, 6, 0xFFFFFF, 200, 9, 1, ext=ts) + payload[:128] + header(3, 6, ext=ts) + payload[128:]
    (message,) = feed_byte_by_byte(data)
    assert (message.timestamp, message.payload) == (ts, payload)


def test_extended_timestamp_not_repeated_in_continuations():
    ts = 0x01020304
    payload = b"y" * 200
    data = header(0, 6, 0xFFFFFF, 200, 9, 1, ext=ts) + payload[:128] + header(3, 6) + payload[128:]
    (message,) = read_all(ChunkReader(), data)
    assert (message.timestamp, message.payload) == (ts, payload)


def test_extended_delta_on_fmt1_and_fmt3_new_message():
    data = (
        header(0, 4, 0, 1, 8, 1)
        + b"a"
        + header(1, 4, 0xFFFFFF, 1, 8, ext=0x01000000)
        + b"b"
        + header(3, 4, ext=0x01000000)
        + b"c"
    )
    assert [m.timestamp for m in feed_byte_by_byte(data)] == [0, 0x01000000, 0x02000000]


def test_timestamp_arithmetic_wraps_at_32_bits():
    data = header(0, 4, 0xFFFFFF, 1, 8, 1, ext=0xFFFFFFF0) + b"a" + header(2, 4, 0x20) + b"b"
    assert [m.timestamp for m in read_all(ChunkReader(), data)] == [0xFFFFFFF0, 0x10]


def test_interleaved_chunk_streams():
    video, audio = b"V" * 300, b"A" * 200
    data = (
        header(0, 6, 0, 300, 9, 1)
        + video[:128]
        + header(0, 4, 0, 200, 8, 1)
        + audio[:128]
        + header(3, 6)
        + video[128:256]
        + header(3, 4)
        + audio[128:]
        + header(3, 6)
        + video[256:]
    )
    messages = feed_byte_by_byte(data)
    assert [(m.csid, m.payload) for m in messages] == [(4, audio), (6, video)]


def test_chunk_size_change_between_messages():
    reader = ChunkReader()
    first = header(0, 4, 0, 4, 8, 1) + b"abcd"
    reader.feed(first)
    assert reader.next_message().payload == b"abcd"
    reader.set_chunk_size(4096)
    payload = bytes(3000)
    reader.feed(header(0, 4, 0, 3000, 9, 1) + payload)
    assert reader.next_message().payload == payload


def test_abort_drops_partial_message():
    reader = ChunkReader()
    data = header(0, 4, 0, 200, 9, 1) + b"p" * 128
    assert read_all(reader, data) == []
    reader.abort(4)
    (message,) = read_all(reader, header(0, 4, 5, 3, 8, 1) + b"new")
    assert message.payload == b"new"


def test_writer_reader_round_trip_random_splits():
    rng = random.Random(7)
    writer = ChunkWriter()
    writer.chunk_size = 1000
    originals = []
    stream = b""
    for index in range(60):
        csid = rng.choice([2, 3, 63, 64, 319, 320, 65599])
        timestamp = rng.choice([0, 40 * index, 0xFFFFFF, 0xFFFFFFFF, 0x12345678])
        payload = rng.randbytes(rng.choice([0, 1, 999, 1000, 1001, 5000]))
        originals.append((9, 1, timestamp, payload))
        stream += writer.encode(csid, 9, 1, timestamp, payload)
    for _ in range(5):
        reader = _sized(1000)
        splits = sorted(rng.sample(range(1, len(stream)), 200))
        assert strip_csid(read_all(reader, stream, splits)) == originals
    assert strip_csid(feed_byte_by_byte(stream, _sized(1000))) == originals


def _sized(size: int) -> ChunkReader:
    reader = ChunkReader()
    reader.set_chunk_size(size)
    return reader


def test_incomplete_chunk_is_not_consumed():
    reader = ChunkReader()
    data = header(0, 4, 0, 10, 9, 1) + b"12345"
    reader.feed(data)
    assert reader.next_message() is None
    assert reader.buffered == len(data)


@pytest.mark.parametrize("size", [0, 0x80000000, MAX_CHUNK_SIZE + 1])
def test_bad_chunk_sizes(size):
    with pytest.raises(ChunkError):
        ChunkReader().set_chunk_size(size)


def test_max_spec_chunk_size_is_refused_by_the_cap_but_cap_is_accepted():
    reader = ChunkReader()
    reader.set_chunk_size(MAX_CHUNK_SIZE)
    with pytest.raises(ChunkError, match="limit"):
        reader.set_chunk_size(0x7FFFFFFF)


def test_message_length_above_cap():
    reader = ChunkReader(max_message_length=1000)
    reader.feed(header(0, 4, 0, 1001, 9, 1))
    with pytest.raises(ChunkError, match="length"):
        reader.next_message()


def test_first_chunk_must_be_fmt0():
    reader = ChunkReader()
    reader.feed(header(1, 4, 0, 3, 9) + b"abc")
    with pytest.raises(ChunkError, match="starts with"):
        reader.next_message()


def test_new_header_in_the_middle_of_a_message():
    reader = ChunkReader()
    reader.feed(header(0, 4, 0, 200, 9, 1) + b"x" * 128 + header(1, 4, 0, 3, 9) + b"abc")
    with pytest.raises(ChunkError, match="middle"):
        reader.next_message()


def test_random_garbage_fails_cleanly_or_waits():
    rng = random.Random(3)
    for _ in range(200):
        reader = ChunkReader()
        reader.feed(rng.randbytes(rng.randrange(1, 300)))
        try:
            while reader.next_message() is not None:
                pass
        except ChunkError:
            pass


def test_writer_uses_fmt3_continuations():
    writer = ChunkWriter()
    out = writer.encode(3, 20, 0, 0, b"z" * 300)
    assert out[0] == 0x03 and out[12 + 128] == 0xC3 and out[12 + 128 + 1 + 128] == 0xC3
    assert len(out) == 12 + 300 + 2


def test_unfinished_messages_over_many_chunk_streams_are_bounded():
    reader = ChunkReader(max_message_length=1000)
    data = b"".join(header(0, csid, 0, 1000, 9, 1) + b"x" * 128 for csid in range(64, 90))
    reader.feed(data)

    def read_all() -> None:
        while reader.next_message() is not None:
            pass

    with pytest.raises(ChunkError, match="unfinished"):
        read_all()


def test_unfinished_byte_count_returns_to_zero():
    reader = ChunkReader()
    payload = b"p" * 1000
    read_all(reader, header(0, 6, 0, 1000, 9, 1) + payload[:128])
    reader.abort(6)
    stream = header(0, 6, 0, 1000, 9, 1) + payload[:128]
    for offset in range(128, 1000, 128):
        stream += header(3, 6) + payload[offset : offset + 128]
    for _ in range(3):
        assert [m.payload for m in read_all(reader, stream)] == [payload]
    assert reader._assembling == 0
