"""StatsJob: speed and frame rate reported as a player would count them."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

from transcode.stats import StatsJob

VIDEO = SimpleNamespace(type="video")
AUDIO = SimpleNamespace(type="audio")


def packet(stream, seconds: float, time_base=Fraction(1, 1000)):
    return SimpleNamespace(stream=stream, dts=round(seconds * 1000), time_base=time_base)


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
    rates = [e["frame_rate"] for e in events]
    assert len(events) == 3
    assert all(abs(rate - 30) < 0.05 for rate in rates), rates
    assert events[-1]["width"] == 1280 and events[-1]["height"] == 720
    assert abs(events[-1]["speed"] - 1.0) < 0.05


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
    assert abs(events[-1]["frame_rate"] - 25) < 0.05, events
