"""What the node counts per stream for /metrics: late parts, viewers by protocol."""

from __future__ import annotations

from server.metrics.stream_meter import StreamMeter, StreamMeters, viewer_protocol
from transcode.contract import Part


def part(rendition: str = "origin", duration: float = 0.5) -> Part:
    return Part(
        rendition=rendition,
        msn=0,
        part=0,
        path=f"{rendition}/seg_0.0.m4s",
        duration=duration,
        independent=True,
        file=f"{rendition}/seg_0.m4s",
        offset=0,
        size=100,
        discontinuity_sequence=0,
    )


def test_a_stall_counts_one_late_part_and_the_schedule_goes_on_from_it():
    meter = StreamMeter()
    now = 100.0
    for _ in range(10):
        meter.part(part(), now)
        now += 0.5
    assert meter.late_parts == 0
    now += 2.0  # the packager stalled for two seconds
    for _ in range(10):
        meter.part(part(), now)
        now += 0.5
    assert meter.parts == 20 and meter.late_parts == 1


def test_jitter_under_a_part_is_not_late_and_renditions_keep_their_own_schedule():
    meter = StreamMeter()
    for index in range(20):
        jitter = 0.3 if index % 3 == 0 else 0.0
        meter.part(part("origin"), 10 + index * 0.5 + jitter)
        meter.part(part("360p"), 12 + index * 0.5)  # a rendition starts later: not late
    assert meter.late_parts == 0


def test_a_stream_running_slow_counts_again_each_part_it_falls_behind():
    meter = StreamMeter()
    now = 0.0
    for _ in range(40):  # speed 0.8: each part arrives 0.125 s later than the one before
        meter.part(part(), now)
        now += 0.625
    # more than a part (0.5 s) behind the schedule every 5 parts (0.625 s): 39 parts after the first
    assert meter.late_parts == 7


def test_a_new_source_starts_a_new_schedule():
    meter = StreamMeter()
    meter.part(part(), 0.0)
    meter.source_started(True)
    meter.part(part(), 30.0)  # the publisher came back half a minute later
    assert meter.late_parts == 0


def test_viewers_are_addresses_per_protocol_over_two_windows():
    meter = StreamMeter()
    meter.followers.update(
        {
            ("origin/index.m3u8", "10.0.0.1"),
            ("audio/index.m3u8", "10.0.0.1"),
            ("master.m3u8", "10.0.0.2"),
            ("index.mpd", "10.0.0.3"),
            ("origin/mpegts.m3u8", "10.0.0.1"),
        }
    )
    assert meter.viewers() == {"llhls": 2, "hls": 1, "dash": 1}
    meter.next_window()
    meter.followers.add(("index.mpd", "10.0.0.4"))
    assert meter.viewers() == {"llhls": 2, "hls": 1, "dash": 2}
    meter.next_window()
    assert meter.viewers() == {"llhls": 0, "hls": 0, "dash": 1}


def test_protocols_by_playlist_name():
    assert viewer_protocol("master.m3u8") == viewer_protocol("720p/index.m3u8") == "llhls"
    assert viewer_protocol("master_mpegts.m3u8") == viewer_protocol("720p/mpegts.m3u8") == "hls"
    assert viewer_protocol("index.mpd") == "dash"


def test_meters_are_kept_per_stream():
    meters = StreamMeters()
    assert meters.of(3) is meters.of(3) and meters.of(3) is not meters.of(4)
    assert set(meters.by_stream) == {3, 4}


def test_recording_seconds_grow_by_what_each_recording_gained():
    """Progress events carry a recording's whole duration; two recordings (a split) add up."""
    meter = StreamMeter()
    for key, duration in (("a", 2.0), ("a", 4.0), ("a", 4.0), ("b", 2.0), ("a", 6.0)):
        meter.recorded(key, duration)
    assert meter.recording_seconds == 8.0
