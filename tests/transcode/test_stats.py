"""StatsJob: speed and frame rate reported as a player would count them."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

from transcode.stats import StatsJob

VIDEO = SimpleNamespace(type="video")
AUDIO = SimpleNamespace(type="audio")


def packet(stream, seconds: float, time_base=Fraction(1, 1000), size: int = 1000):
    return SimpleNamespace(stream=stream, dts=round(seconds * 1000), time_base=time_base, size=size)


def test_frame_rate_counts_video_only_and_speed_counts_all_media():
    clock = [0.0]
    events = []
    source = SimpleNamespace(codec_context=SimpleNamespace(width=1280, height=720))
    job = StatsJob(source, events.append, clock=lambda: clock[0])
    audio_lead = 0.3  # audio timestamps run ahead of video, as from many encoders
    for second in range(3):
        for frame in range(30):
            t = second + frame / 30
            job.on_packet(packet(VIDEO, t))
            if frame % 2 == 0:
                job.on_packet(packet(AUDIO, t + audio_lead))
        clock[0] = second + 1.0
        job.on_packet(packet(AUDIO, second + 1 + audio_lead))
    rates = [e.frame_rate for e in events]
    assert len(events) == 3
    assert all(abs(rate - 30) < 0.05 for rate in rates), rates
    assert events[-1].width == 1280 and events[-1].height == 720
    assert abs(events[-1].speed - 1.0) < 0.05


def test_bitrate_counts_the_bytes_of_every_stream_over_media_time():
    clock = [0.0]
    events = []
    source = SimpleNamespace(codec_context=SimpleNamespace(width=1280, height=720))
    job = StatsJob(source, events.append, clock=lambda: clock[0])
    for frame in range(61):  # two media seconds read in one batch: wall time does not count
        job.on_packet(packet(VIDEO, frame / 30, size=2500))
        job.on_packet(packet(AUDIO, frame / 30, size=500))
    clock[0] = 1.0
    job.on_packet(packet(VIDEO, 61 / 30, size=2500))
    media = round(61 * 1000 / 30) / 1000  # 62 video and 61 audio packets over 61/30 s (ms timestamps)
    assert events[-1].bitrate == round(8 * (62 * 2500 + 61 * 500) / media)


def test_a_source_change_starts_a_new_frame_rate_window():
    clock = [0.0]
    events = []
    source = SimpleNamespace(codec_context=SimpleNamespace(width=320, height=240))
    job = StatsJob(source, events.append, clock=lambda: clock[0])
    for frame in range(25):
        job.on_packet(packet(VIDEO, frame / 25))
    job.on_source_change(source, None)  # the backup's clock starts far from main's
    for frame in range(26):
        job.on_packet(packet(VIDEO, 500 + frame / 25))
    clock[0] = 1.0
    job.on_packet(packet(VIDEO, 500 + 26 / 25))
    assert abs(events[-1].frame_rate - 25) < 0.05, events


def speeds_for(batch: float, rate: float, seconds: float = 6.0) -> list[float]:
    """Speeds reported for media read in batches of `batch` wall seconds at `rate` media s
    per wall s (30 fps video)."""
    clock = [0.0]
    events = []
    source = SimpleNamespace(codec_context=SimpleNamespace(width=320, height=240))
    job = StatsJob(source, events.append, clock=lambda: clock[0])
    media = 0.0
    while clock[0] < seconds:
        clock[0] += batch
        while media < clock[0] * rate:  # the batch's frames, all read at the same moment
            job.on_packet(packet(VIDEO, media))
            media += 1 / 30
    return [e.speed for e in events[1:]]  # the first window has no lag to compare with


def test_input_read_in_batches_reads_a_steady_speed():
    """A paced worker reads half a second at once: the speed must not wobble by a batch."""
    for batch in (0.1, 0.5, 0.7):
        speeds = speeds_for(batch, 1.0)
        assert speeds and all(abs(s - 1.0) < 0.05 for s in speeds), (batch, speeds)


def test_a_worker_falling_behind_reads_below_one():
    speeds = speeds_for(0.5, 0.8)  # (each window is off by up to a frame's share)
    assert speeds and all(abs(s - 0.8) < 0.1 for s in speeds), speeds
    assert abs(sum(speeds) / len(speeds) - 0.8) < 0.03, speeds
