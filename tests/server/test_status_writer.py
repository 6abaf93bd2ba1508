"""StatusWriter's stats throttle: what reaches the DB queue, without a DB."""

from __future__ import annotations

from server.media.status import STATS_EVERY, StatusWriter
from transcode.contract import Started, Stats


class RecordingWriter(StatusWriter):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(db_sessions=None, clock=lambda: self.now)
        self.written: list[dict] = []

    def set(self, stream_id: int, **values) -> None:
        self.written.append(values)


def stats(speed: float, frame_rate: float = 30.0, width: int = 1920) -> Stats:
    return Stats(speed=speed, frame_rate=frame_rate, width=width, height=1080)


def test_stats_are_written_when_they_move_or_every_few_seconds():
    writer = RecordingWriter()
    writer.stats(1, stats(1.0))
    writer.now = 1.0
    writer.stats(1, stats(1.01, 29.9))  # jitter: not written
    writer.now = 2.0
    writer.stats(1, stats(0.8))  # the stream slowed down
    writer.now = 3.0
    writer.stats(1, stats(0.8, width=1280))  # new size
    writer.now = 3.0 + STATS_EVERY
    writer.stats(1, stats(0.81, width=1280))  # nothing new, but due
    assert [(w["transcoding_speed"], w["video_width"]) for w in writer.written] == [
        (1.0, 1920),
        (0.8, 1920),
        (0.8, 1280),
        (0.81, 1280),
    ]


def test_a_new_publication_writes_its_first_stats_at_once():
    writer = RecordingWriter()
    writer.stats(1, stats(1.0))
    writer.went_offline(1)
    writer.went_live(1, "rtmp", Started(renditions=["origin"]))
    writer.now = 0.5
    writer.stats(1, stats(1.0))
    assert [w.get("transcoding_speed") for w in writer.written] == [1.0, None, None, 1.0]
    writer.stats(2, stats(1.0))  # streams are throttled apart
    assert len(writer.written) == 5
