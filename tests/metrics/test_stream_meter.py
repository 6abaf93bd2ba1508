"""What the node counts per stream for /metrics: late parts, viewers by protocol."""

from __future__ import annotations

from server.metrics.stream_meter import VIEWER_WINDOW, StreamMeter, StreamMeters
from server.metrics.viewer_sessions import SESSION_TIMEOUT, viewer_protocol
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


def test_viewers_are_addresses_per_protocol_that_reloaded_within_the_window():
    meters = StreamMeters()
    meter = meters.of(1)
    meter.followers.update(
        {
            ("origin/index.m3u8", "10.0.0.1", b"hls.js"),
            ("audio/index.m3u8", "10.0.0.1", b"hls.js"),
            ("master.m3u8", "10.0.0.2", b"VLC"),
            ("master.m3u8", "10.0.0.2", b"Safari"),  # two players behind one address count once here
            ("index.mpd", "10.0.0.3", b"dash.js"),
            ("origin/mpegts.m3u8", "10.0.0.1", b"ffmpeg"),
        }
    )
    assert meter.viewers(100.0) == {"llhls": 2, "hls": 1, "dash": 1}  # not handed over yet
    meters.hand_over(100.0)
    assert meter.followers == set()
    assert meter.viewers(100.0) == {"llhls": 2, "hls": 1, "dash": 1}
    meter.followers.add(("index.mpd", "10.0.0.4", b"dash.js"))
    meters.hand_over(103.0)
    assert meter.viewers(103.0) == {"llhls": 2, "hls": 1, "dash": 2}
    assert meter.viewers(103.0 + VIEWER_WINDOW) == {"llhls": 0, "hls": 0, "dash": 1}


def test_a_session_is_one_client_and_user_agent_per_protocol_until_it_stops_reloading():
    meters = StreamMeters(keep_changed=True)
    meter = meters.of(7)
    for second in range(10):  # one player reloading its two playlists every second
        meter.followers.update({("720p/index.m3u8", "10.0.0.1", b"A"), ("audio/index.m3u8", "10.0.0.1", b"A")})
        if second < 4:  # another player on the same address, another user agent, for 4 s
            meter.followers.add(("720p/index.m3u8", "10.0.0.1", b"B"))
        meters.hand_over(1000.0 + second)
    sessions = {s.user_agent: s for s in meter.sessions.sessions.values()}
    assert set(sessions) == {b"A", b"B"}
    assert sessions[b"A"].seconds == 9.0 and sessions[b"B"].seconds == 3.0
    assert {s.stream_id for s in sessions.values()} == {7}
    changed = meters.take_changed()
    assert sorted(s.user_agent for s in changed) == [b"A", b"B"]  # each once, however often seen
    assert meters.take_changed() == []

    meters.hand_over(1009.0 + SESSION_TIMEOUT)
    assert set(meter.sessions.sessions) == {("10.0.0.1", b"A", "llhls")}  # B ended
    meter.followers.add(("720p/index.m3u8", "10.0.0.1", b"B"))
    meters.hand_over(1010.0 + SESSION_TIMEOUT)
    again = meter.sessions.sessions["10.0.0.1", b"B", "llhls"]
    assert again is not sessions[b"B"] and again.seconds == 0.0  # back later: a new session
    assert meters.take_changed() == [again]


def test_sessions_not_written_go_back_into_the_next_batch():
    meters = StreamMeters(keep_changed=True)
    meters.of(1).followers.add(("index.mpd", "10.0.0.1", b""))
    meters.hand_over(10.0)
    batch = meters.take_changed()
    meters.given_back(batch)
    assert meters.take_changed() == batch


def test_without_statistics_no_session_waits_to_be_written():
    meters = StreamMeters()
    meters.of(1).followers.add(("index.mpd", "10.0.0.1", b""))
    meters.hand_over(10.0)
    assert meters.take_changed() == []


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
