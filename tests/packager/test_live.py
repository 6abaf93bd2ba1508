"""LiveOutput end to end: real x264/AAC clips in, files checked the way a player would read them."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import av
import pytest
from packager_testkit import FAKE_NOW, Run, decode_times, fragment_ticks, package, parse_media_playlist

from packager.dash import iso_time
from packager.isobmff import iter_boxes, parse_init
from packager.live import LiveOutput, PackagerConfig
from packager.moof import SAMPLE_IS_NON_SYNC, parse_fragment, parse_producer_reference
from tests.support.mpd_conformance import check_mpds
from tests.support.playlist_texts import with_texts

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


@pytest.fixture(scope="module")
def gop1_run(clip_1s_gop, tmp_path_factory):
    return package(clip_1s_gop, tmp_path_factory.mktemp("gop1"), window_segments=8)


def _playlist(run, rendition):
    return parse_media_playlist((run.out_dir / rendition / "index.m3u8").read_text())


def _last_live_playlist(run, rendition):
    """The last playlist written before close: the ended one lists no parts."""
    texts = [e["text"] for e in run.of("playlist", rendition) if "#EXT-X-ENDLIST" not in e["text"]]
    return parse_media_playlist(texts[-1])


def _check_media_playlist(run, rendition):
    ended = _playlist(run, rendition)
    assert ended.ended and all(not s.parts for s in ended.segments)
    live = _last_live_playlist(run, rendition)
    assert [(s.msn, s.duration) for s in live.segments] == [(s.msn, s.duration) for s in ended.segments]
    _check_playlist_text(live)
    return _check_playlist_text(ended)


def _check_playlist_text(playlist):
    assert playlist.tags["EXT-X-VERSION"] == "9"
    assert "CAN-BLOCK-RELOAD=YES" in playlist.tags["EXT-X-SERVER-CONTROL"]
    part_hold_back = float(playlist.tags["EXT-X-SERVER-CONTROL"].split("PART-HOLD-BACK=")[1].split(",")[0])
    assert part_hold_back >= 3 * playlist.part_target
    for segment in playlist.segments:
        assert segment.duration <= playlist.target_duration
        assert segment.program_date_time is not None
        assert segment.map_uri == "init.mp4"
        if segment.parts:
            assert abs(sum(p.duration for p in segment.parts) - segment.duration) < 0.001
            assert all(p.duration <= playlist.part_target + 1e-6 for p in segment.parts)
            assert [p.uri for p in segment.parts] == [f"seg_{segment.msn}.{i}.m4s" for i in range(len(segment.parts))]
        assert segment.uri == f"seg_{segment.msn}.m4s"
    assert [s.msn for s in playlist.segments] == list(range(playlist.segments[0].msn, playlist.segments[-1].msn + 1))
    return playlist


def test_playlists_are_consistent(gop1_run):
    video = _check_media_playlist(gop1_run, "origin")
    audio = _check_media_playlist(gop1_run, "audio")
    assert video.segments[0].msn == 0 and audio.segments[0].msn == 0
    assert [s.duration for s in video.segments] == [2.0, 2.0, 2.0]
    assert video.target_duration == 2
    assert len(audio.segments) == len(video.segments)
    # The same moment on the wall clock: PDT derives from one anchor (clock injected).
    assert video.segments[0].program_date_time == "2027-01-15T08:00:00.000Z"


def test_part_flags_match_keyframes_and_segments_equal_their_parts(gop1_run, tmp_path):
    """A part is a byte range of its segment's file; the ranges tile the file in order."""
    out = gop1_run.out_dir
    for rendition in ("origin", "audio"):
        info = parse_init((out / rendition / "init.mp4").read_bytes())
        events = {e["path"]: e for e in gop1_run.of("part", rendition)}
        for segment in _last_live_playlist(gop1_run, rendition).segments:
            assert segment.parts
            listed = [events[f"{rendition}/{p.uri}"] for p in segment.parts]
            assert {e["file"] for e in listed} == {f"{rendition}/{segment.uri}"}
            data = (out / rendition / segment.uri).read_bytes()
            assert [e["offset"] for e in listed] == [sum(e["size"] for e in listed[:i]) for i in range(len(listed))]
            assert sum(e["size"] for e in listed) == len(data)
            parts = [data[e["offset"] : e["offset"] + e["size"]] for e in listed]
            for part, listed in zip(parts, segment.parts):
                boxes = [b.type for b in iter_boxes(part)]
                assert boxes == ["prft", "moof", "mdat"], "a part is one CMAF chunk, after its producer reference"
                samples = parse_fragment(part, info.default_sample_duration, info.default_sample_flags).samples
                assert listed.independent == (not samples[0].flags & SAMPLE_IS_NON_SYNC)
                decoded = decode_times((out / rendition / "init.mp4").read_bytes() + part, tmp_path / "p.mp4")
                assert decoded[0][2] == listed.independent
                assert abs(sum(d for _, d, _ in decoded) - listed.duration) < 0.001


@pytest.mark.parametrize("rendition", ["origin", "audio"])
def test_segments_decode_without_gaps_or_overlaps(gop1_run, tmp_path, rendition):
    out = gop1_run.out_dir
    init = (out / rendition / "init.mp4").read_bytes()
    previous_end = None
    for segment in _playlist(gop1_run, rendition).segments:
        data = (out / rendition / segment.uri).read_bytes()
        times = decode_times(init + data, tmp_path / "s.mp4")
        start = min(t for t, _, _ in times)
        end = max(t + d for t, d, _ in times)
        assert times[0][2], "every segment starts with a sync sample"
        assert abs((end - start) - segment.duration) < 0.001
        if previous_end is not None:
            assert abs(start - previous_end) < 0.001
        previous_end = end
        # and the whole-file timeline in the boxes matches: next tfdt = this tfdt + durations
        first_tfdt, ticks = fragment_ticks(data)
        assert first_tfdt is not None and ticks > 0


def test_audio_and_video_keep_their_source_offset(clip_1s_gop, gop1_run, tmp_path):
    """Each track has its own muxer: the output must keep the sources' relative timing."""
    out = gop1_run.out_dir
    starts = {}
    for rendition in ("origin", "audio"):
        first = _playlist(gop1_run, rendition).segments[0]
        data = (out / rendition / "init.mp4").read_bytes() + (out / rendition / first.uri).read_bytes()
        starts[rendition] = min(t for t, _, _ in decode_times(data, tmp_path / "x.mp4"))
    source = gop1_run.source_first_pts
    video_shift = starts["origin"] - source["origin"]
    # audio before the first video keyframe is dropped: compare with the first kept audio frame
    with av.open(str(clip_1s_gop)) as container:
        audio_source = sorted(
            float(p.pts * p.time_base)
            for p in container.demux(container.streams.audio[0])
            if p.pts is not None and float(p.pts * p.time_base) >= source["origin"] - 0.005
        )[0]
    assert abs((starts["audio"] - audio_source) - video_shift) < 0.002


def test_the_master_comes_once_every_media_playlist_lists_a_complete_segment(gop1_run):
    """Players load the master first; a media playlist of parts only is a dead level to hls.js
    on its first load (fatal levelEmptyError)."""
    events = with_texts(gop1_run.events)
    first_master = next(i for i, e in enumerate(events) if e["event"] == "master")
    for rendition in ("origin", "audio"):
        before = [e for e in events[:first_master] if e["event"] == "playlist" and e["rendition"] == rendition]
        assert before and "#EXTINF:" in before[-1]["text"], rendition
        assert any("#EXTINF:" not in e["text"] for e in before), rendition  # it did have parts first


def test_master_playlist(gop1_run):
    text = (gop1_run.out_dir / "master.m3u8").read_text()
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text
    assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"' in text and 'URI="audio/index.m3u8"' in text
    stream_inf = next(line for line in text.splitlines() if line.startswith("#EXT-X-STREAM-INF"))
    assert 'CODECS="avc1.64000d,mp4a.40.2"' in stream_inf  # High profile, level 1.3 (x264 at 320x240)
    assert "RESOLUTION=320x240" in stream_inf and "FRAME-RATE=25.000" in stream_inf
    bandwidth = int(stream_inf.split("BANDWIDTH=")[1].split(",")[0])
    assert 100_000 < bandwidth < 2_000_000
    assert text.splitlines()[-1] == "origin/index.m3u8"


def test_ffprobe_reads_master_playlist_and_mpd(gop1_run):
    for name in ("master.m3u8", "origin/index.m3u8", "audio/index.m3u8", "index.mpd"):
        result = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name",
                "-of",
                "csv=p=0",
                str(gop1_run.out_dir / name),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        expected = {"origin/index.m3u8": {"h264"}, "audio/index.m3u8": {"aac"}}.get(name, {"h264", "aac"})
        assert expected <= set(result.stdout.split()), (name, result.stdout, result.stderr)


def test_mpd_timeline_matches_segment_files(gop1_run):
    root = ET.fromstring((gop1_run.out_dir / "index.mpd").read_text())
    assert root.get("type") == "static"
    assert "urn:mpeg:dash:profile:isoff-live:2011" in root.get("profiles")
    for representation in root.iterfind(".//d:Representation", MPD_NS):
        rendition = representation.get("id")
        template = representation.find("d:SegmentTemplate", MPD_NS)
        timescale = int(template.get("timescale"))
        number = int(template.get("startNumber"))
        t = None
        for s in template.iterfind(".//d:S", MPD_NS):
            t = int(s.get("t", t if t is not None else 0))
            for _ in range(int(s.get("r", 0)) + 1):
                d = int(s.get("d"))
                data = (gop1_run.out_dir / rendition / f"seg_{number}.m4s").read_bytes()
                _, ticks = fragment_ticks(data)
                info = parse_init((gop1_run.out_dir / rendition / "init.mp4").read_bytes())
                assert info.timescale == timescale
                assert ticks == d
                number += 1
                t += d


def test_live_mpd_is_dynamic_and_low_latency(gop1_run):
    mpds = [e["text"] for e in gop1_run.events if e["event"] == "mpd"]
    # the live timeline lists complete segments only: a duration once announced never changes
    first = ET.fromstring(mpds[0])
    video = first.find(".//d:Representation[@id='origin']/d:SegmentTemplate/d:SegmentTimeline", MPD_NS)
    assert [(s.get("t"), s.get("d"), s.get("r")) for s in video] == [(video[0].get("t"), "180000", None)]
    root = ET.fromstring(mpds[-2])
    assert root.get("type") == "dynamic"
    for attribute in (
        "availabilityStartTime",
        "publishTime",
        "minimumUpdatePeriod",
        "timeShiftBufferDepth",
        "suggestedPresentationDelay",
    ):
        assert root.get(attribute), attribute
    timing = root.find("d:UTCTiming", MPD_NS)
    assert timing.get("schemeIdUri") == "urn:mpeg:dash:utc:http-iso:2014" and timing.get("value") == "/time"
    audio = root.find(".//d:Representation[@id='audio']", MPD_NS)
    assert audio.get("audioSamplingRate") == "48000"
    sets = root.findall(".//d:AdaptationSet", MPD_NS)
    assert [s.get("contentType") for s in sets] == ["video", "audio"]
    for template in root.iterfind(".//d:SegmentTemplate", MPD_NS):
        assert float(template.get("availabilityTimeOffset")) == pytest.approx(1.5)
        assert template.get("availabilityTimeComplete") == "false"
        assert template.get("initialization") == "$RepresentationID$/init.mp4"
        assert template.get("media") == "$RepresentationID$/seg_$Number$.m4s"


def test_live_mpds_keep_what_they_announced(clip_1s_gop, tmp_path):
    """Across every MPD a stream publishes, while its window slides: a Period keeps its id and
    start, each segment its t and d, availabilityStartTime its value (ISO/IEC 23009-1 §5.4)."""
    run = package(
        clip_1s_gop, tmp_path, window_segments=2, segment_target=1.0, utc_timing_url="http://node.example:8080/time"
    )
    texts = [e["text"] for e in run.of("mpd")]
    announced = check_mpds(texts)
    assert len(announced.period_starts) == 1 and announced.refreshes == len(texts) > 6
    first_numbers = {int(ET.fromstring(t).find(".//d:SegmentTemplate", MPD_NS).get("startNumber")) for t in texts}
    assert len(first_numbers) > 2  # the window did slide


def test_every_part_begins_with_a_producer_reference(clip_1s_gop, tmp_path):
    """Each part (a CMAF chunk) starts with a prft: the wall clock its first frame came in,
    paired with that frame's presentation time; the MPD's ProducerReferenceTime is the first
    leader frame's pair."""
    ticks = iter(range(10**6))
    run = package(clip_1s_gop, tmp_path, clock=lambda: FAKE_NOW + next(ticks) / 1000)
    last_wall = {}
    for part in run.of("part"):
        data = (tmp_path / part["file"]).read_bytes()[part["offset"] : part["offset"] + part["size"]]
        assert [box.type for box in iter_boxes(data)] == ["prft", "moof", "mdat"]
        track_id, wall, media_time = parse_producer_reference(data)
        fragment = parse_fragment(data)
        assert track_id == fragment.track_id
        assert media_time == fragment.base_decode_time + fragment.samples[0].composition_offset
        assert FAKE_NOW <= wall < FAKE_NOW + 1000 and wall > last_wall.get(part["rendition"], 0)
        last_wall[part["rendition"]] = wall
    root = ET.fromstring(run.of("mpd")[0]["text"])
    latency = root.find("d:ServiceDescription/d:Latency", MPD_NS)
    reference = root.find(".//d:AdaptationSet[@contentType='video']/d:ProducerReferenceTime", MPD_NS)
    assert reference.get("id") == latency.get("referenceId")
    first = (tmp_path / "origin" / "seg_0.m4s").read_bytes()
    _, wall, _ = parse_producer_reference(first)
    timeline = root.find(".//d:Representation[@id='origin']//d:S", MPD_NS)
    assert reference.get("presentationTime") == timeline.get("t")  # on the MPD's timeline
    assert reference.get("wallClockTime") == iso_time(wall)


def test_every_playlist_event_is_valid_and_lists_the_part_just_announced(gop1_run):
    last_part = {}
    hints = {}
    for event in with_texts(gop1_run.events):
        if event["event"] == "part":
            last_part[event["rendition"]] = event
            hint = hints.get(event["rendition"])
            if hint is not None:
                assert hint == event["path"], "the preload hint named the part that came next"
            segment_file = gop1_run.out_dir / event["file"]
            assert event["msn"] < 2 or segment_file.stat().st_size >= event["offset"] + event["size"]
        elif event["event"] == "playlist":
            rendition = event["rendition"]
            playlist = parse_media_playlist(event["text"])
            part = last_part[rendition]
            assert (event["msn"], event["part"]) == (part["msn"], part["part"])
            if not playlist.ended:
                listed = [p.uri for s in playlist.segments if s.msn == part["msn"] for p in s.parts]
                assert part["path"].split("/")[-1] in listed
            for segment in playlist.segments:
                assert segment.duration is None or segment.duration <= playlist.target_duration
            if not playlist.ended:
                hints[rendition] = f"{rendition}/{playlist.preload_hint}"
    assert gop1_run.events[-1] == {"event": "ended"}


def test_events_are_json_and_init_precedes_parts(gop1_run):
    assert json.loads(json.dumps(gop1_run.events)) == gop1_run.events
    kinds = [(e["event"], e.get("rendition")) for e in gop1_run.events]
    for rendition in ("origin", "audio"):
        assert kinds.index(("init", rendition)) < kinds.index(("part", rendition))


def test_30fps_over_millisecond_timestamps_makes_whole_parts(clip_30fps, tmp_path):
    """15 frames of 33, 33 and 34 ms are exactly the 0.5 s target: four such parts per 2 s
    segment, not 14 + 15 + 15 + 15 frames and a 1-frame tail."""
    run = package(clip_30fps, tmp_path / "out", part_target=0.5, segment_target=2.0)
    playlist = _check_media_playlist(run, "origin")
    live = _last_live_playlist(run, "origin")
    complete = [s for s in live.segments if s.parts and s.duration == 2.0]
    assert complete and playlist.part_target == 0.5
    for segment in complete:
        assert [p.duration for p in segment.parts] == [0.5, 0.5, 0.5, 0.5]


def test_long_gops_make_long_segments(clip_3s_gop, tmp_path):
    run = package(clip_3s_gop, tmp_path)
    video = _check_media_playlist(run, "origin")
    audio = _check_media_playlist(run, "audio")
    assert [s.duration for s in video.segments[:2]] == [3.0, 3.0]
    assert video.target_duration == 3
    assert len(audio.segments) == len(video.segments)
    independent = [p.independent for s in _last_live_playlist(run, "origin").segments for p in s.parts]
    assert independent.count(True) == len(video.segments)


def test_window_deletes_old_files(clip_1s_gop, tmp_path):
    run = package(clip_1s_gop, tmp_path, window_segments=1, segment_target=1.0)
    playlist = _check_media_playlist(run, "origin")
    assert len(playlist.segments) == 1
    removed = [path for e in run.of("removed") for path in e["paths"]]
    assert "origin/seg_0.m4s" in removed and "audio/seg_0.m4s" in removed
    assert "origin/seg_0.0.m4s" in removed
    for path in removed:
        assert not (tmp_path / path).exists()
    # segments retained for the grace period (window + 1 after leaving the playlist) remain
    last = playlist.segments[-1].msn
    assert (tmp_path / f"origin/seg_{last - 1}.m4s").exists()


def test_two_renditions_share_boundaries(clip_two_sizes, tmp_path):
    run = package(clip_two_sizes, tmp_path, names=("240p", "120p"))
    big = _check_media_playlist(run, "240p")
    small = _check_media_playlist(run, "120p")
    _check_media_playlist(run, "audio")
    assert [(s.msn, s.duration) for s in big.segments] == [(s.msn, s.duration) for s in small.segments]
    master = (tmp_path / "master.m3u8").read_text()
    assert "RESOLUTION=320x240" in master and "RESOLUTION=160x120" in master
    reports = [
        line
        for line in (tmp_path / "240p" / "index.m3u8").read_text().splitlines()
        if line.startswith("#EXT-X-RENDITION-REPORT")
    ]
    assert reports == []  # ended playlists carry no reports
    live_text = list(run.of("playlist", "240p"))[-2]["text"]
    assert '#EXT-X-RENDITION-REPORT:URI="../120p/index.m3u8"' in live_text
    root = ET.fromstring((tmp_path / "index.mpd").read_text())
    video_set = root.find(".//d:AdaptationSet[@contentType='video']", MPD_NS)
    assert [r.get("id") for r in video_set.findall("d:Representation", MPD_NS)] == ["240p", "120p"]


def test_an_unlisted_track_leads_and_is_announced_but_listed_nowhere(clip_two_sizes, tmp_path):
    """The recorder's source track: cut and numbered with the others (it leads), its init,
    parts and segments announced, but no playlist, master or MPD lists it, nobody is told
    its files go, and only its own short window stays on disk."""
    run = package(clip_two_sizes, tmp_path, names=("source", "120p"), unlisted=("source",), segment_target=1.0)
    listed = _check_media_playlist(run, "120p")
    source = run.of("segment", "source")
    assert [e["msn"] for e in source] == [s.msn for s in listed.segments] and len(source) >= 4
    assert [e["duration"] for e in source] == pytest.approx([s.duration for s in listed.segments], abs=0.001)
    assert run.of("init", "source") and run.of("part", "source")
    assert run.of("playlist", "source") == [] and not (tmp_path / "source/index.m3u8").exists()
    assert not any(path.startswith("source/") for e in run.of("removed") for path in e["paths"])
    master, mpd = (tmp_path / "master.m3u8").read_text(), (tmp_path / "index.mpd").read_text()
    assert "source" not in master and "source" not in mpd and "120p/index.m3u8" in master
    kept = sorted(p.name for p in (tmp_path / "source").glob("seg_*.m4s"))
    assert kept == [f"seg_{e['msn']}.m4s" for e in source[-3:]]  # its window (1) and the retention after it (2)


def test_mux_leaves_the_callers_packet_usable(clip_1s_gop, tmp_path):
    """The worker also feeds every packet to an MPEG-TS segmenter after the packager."""
    output = LiveOutput(PackagerConfig(tmp_path / "live"), lambda event: None, clock=lambda: FAKE_NOW)
    sink = tmp_path / "copy.ts"
    with av.open(str(clip_1s_gop)) as source, av.open(str(sink), "w", format="mpegts") as ts:
        video_in = source.streams.video[0]
        track = output.add_video("origin", video_in)
        video_out = ts.add_stream_from_template(video_in)
        count = 0
        for packet in source.demux(video_in):
            if packet.size == 0:
                continue
            before = (packet.pts, packet.dts, packet.time_base, bytes(packet))
            output.mux(track, packet)
            assert (packet.pts, packet.dts, packet.time_base, bytes(packet)) == before
            packet.stream = video_out
            ts.mux(packet)
            count += 1
    output.close()
    with av.open(str(sink)) as check:
        assert sum(1 for p in check.demux(check.streams.video[0]) if p.size) == count


def test_no_events_after_close_and_close_is_idempotent(clip_1s_gop, tmp_path):
    events = []
    output = LiveOutput(PackagerConfig(tmp_path), events.append, clock=lambda: FAKE_NOW)
    with av.open(str(clip_1s_gop)) as source:
        track = output.add_video("origin", source.streams.video[0])
        for index, packet in enumerate(source.demux(source.streams.video[0])):
            if index == 60:
                break
            output.mux(track, packet)
    output.close()
    count = len(events)
    output.close()
    assert len(events) == count and events[-1] == {"event": "ended"}
    with pytest.raises(RuntimeError):
        output.mux(track, packet)


def test_discontinuity_starts_a_new_init_and_continues_numbering(clip_1s_gop, tmp_path):
    events = []
    now = [FAKE_NOW]
    output = LiveOutput(PackagerConfig(tmp_path), events.append, clock=lambda: now[0])
    for round_ in range(2):
        now[0] = FAKE_NOW + 20 * round_  # the new source comes 20 s later on the wall clock
        with av.open(str(clip_1s_gop)) as source:
            if round_ == 0:
                video = output.add_video("origin", source.streams.video[0])
                audio = output.add_audio(source.streams.audio[0])
            else:
                output.discontinuity({video: source.streams.video[0], audio: source.streams.audio[0]})
            for packet in source.demux():
                if packet.size:
                    output.mux(video if packet.stream.type == "video" else audio, packet)
    output.close()
    playlist = parse_media_playlist((tmp_path / "origin" / "index.m3u8").read_text())
    maps = [s.map_uri for s in playlist.segments]
    assert maps[0] == "init.mp4" and maps[-1] == "init_1.mp4"
    switch = maps.index("init_1.mp4")
    assert playlist.segments[switch].discontinuity and not any(s.discontinuity for s in playlist.segments[:switch])
    assert [s.msn for s in playlist.segments] == list(range(len(playlist.segments)))
    audio_playlist = parse_media_playlist((tmp_path / "audio" / "index.m3u8").read_text())
    assert audio_playlist.segments[switch].map_uri == "init_1.mp4"
    data = (tmp_path / "origin" / "init_1.mp4").read_bytes() + (tmp_path / "origin" / f"seg_{switch}.m4s").read_bytes()
    times = decode_times(data, tmp_path / "d.mp4")
    assert times and times[0][2]
    # the timeline runs on across the switch, and DASH gets a Period per init segment
    first = decode_times(
        (tmp_path / "origin" / "init.mp4").read_bytes() + (tmp_path / "origin" / "seg_0.m4s").read_bytes(),
        tmp_path / "e.mp4",
    )
    assert abs(min(t for t, _, _ in times) - (min(t for t, _, _ in first) + 20)) < 0.1  # 20 s later
    root = ET.fromstring((tmp_path / "index.mpd").read_text())
    periods = root.findall("d:Period", MPD_NS)
    assert [p.get("id") for p in periods] == ["0", "1"]
    template = periods[1].find(".//d:Representation[@id='origin']/d:SegmentTemplate", MPD_NS)
    assert template.get("initialization") == "$RepresentationID$/init_1.mp4"
    assert int(template.get("startNumber")) == switch
    period_start = float(periods[1].get("start")[2:-1])
    assert abs(period_start - 20.0) < 0.2
    assert playlist.segments[switch].program_date_time == "2027-01-15T08:00:20.000Z"
    assert root.get("availabilityStartTime") == "2027-01-15T08:00:00.000Z"


def test_audio_only_stream_leads_its_own_segments(clip_1s_gop, tmp_path):
    events = []
    output = LiveOutput(PackagerConfig(tmp_path), events.append, clock=lambda: FAKE_NOW)
    with av.open(str(clip_1s_gop)) as source:
        track = output.add_audio(source.streams.audio[0])
        for packet in source.demux(source.streams.audio[0]):
            if packet.size:
                output.mux(track, packet)
    output.close()
    playlist = parse_media_playlist((tmp_path / "audio" / "index.m3u8").read_text())
    durations = [s.duration for s in playlist.segments]
    assert all(2.0 <= d < 2.03 for d in durations[:3]) and sum(durations) == pytest.approx(6.03, abs=0.03)
    master = (tmp_path / "master.m3u8").read_text().splitlines()
    assert master[-2].startswith("#EXT-X-STREAM-INF:") and 'CODECS="mp4a.40.2"' in master[-2]
    assert "RESOLUTION" not in master[-2] and master[-1] == "audio/index.m3u8"
    root = ET.fromstring((tmp_path / "index.mpd").read_text())
    assert [s.get("contentType") for s in root.findall(".//d:AdaptationSet", MPD_NS)] == ["audio"]


@pytest.mark.parametrize("lag", [{"240p": 40}, {"120p": 40}, {"240p": 100, "120p": 50}])
def test_renditions_delivered_late_or_early_still_share_boundaries(clip_two_sizes, tmp_path, lag):
    """Encoder threads deliver renditions out of step; the leader's decisions must still hold."""
    reference = package(clip_two_sizes, tmp_path / "ref", names=("240p", "120p"))
    run = package(clip_two_sizes, tmp_path / "lag", names=("240p", "120p"), lag=lag)
    for rendition in ("240p", "120p", "audio"):
        expected = _check_media_playlist(reference, rendition)
        got = _check_media_playlist(run, rendition)
        assert [(s.msn, s.duration, len(s.parts)) for s in got.segments] == [
            (s.msn, s.duration, len(s.parts)) for s in expected.segments
        ], rendition


def test_audio_far_ahead_of_video_keeps_alignment(clip_1s_gop, gop1_run, tmp_path):
    """A transcoded video arrives ~1.5 s after the passthrough audio."""
    run = package(clip_1s_gop, tmp_path, lag={"origin": 110})
    for rendition in ("origin", "audio"):
        expected = _playlist(gop1_run, rendition)
        got = _check_media_playlist(run, rendition)
        assert [(s.msn, s.duration) for s in got.segments] == [(s.msn, s.duration) for s in expected.segments]


def test_repeated_or_backward_dts_is_dropped_not_fatal(clip_1s_gop, tmp_path):
    events = []
    output = LiveOutput(PackagerConfig(tmp_path), events.append, clock=lambda: FAKE_NOW)
    with av.open(str(clip_1s_gop)) as source:
        stream = source.streams.video[0]
        track = output.add_video("origin", stream)
        previous = None
        for packet in source.demux(stream):
            if packet.size == 0:
                continue
            output.mux(track, packet)
            if previous is not None:
                output.mux(track, previous)  # a duplicate from the past
            previous = packet
    output.close()
    playlist = _check_media_playlist(Run(tmp_path, events), "origin")
    assert [s.duration for s in playlist.segments] == [2.0, 2.0, 2.0]


class _NullSink:
    def write(self, data):
        return len(data)


def test_template_without_extradata_gets_avcc_from_the_first_keyframe(tmp_path):
    """An encoder's packets (Annex B, SPS/PPS in band) with a mux-only template stream."""
    from fractions import Fraction

    import numpy as np

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"g": "25", "bf": "0", "sc_threshold": "0"}
    holder = av.open(_NullSink(), "w", format="mpegts")
    template = holder.add_stream("h264", rate=25)
    template.width, template.height = 160, 120
    assert not template.codec_context.extradata
    events = []
    output = LiveOutput(PackagerConfig(tmp_path), events.append, clock=lambda: FAKE_NOW)
    track = output.add_video("v", template)
    frames = [av.VideoFrame.from_ndarray(np.full((120, 160, 3), i, np.uint8), format="rgb24") for i in range(75)]
    for index, frame in enumerate([*frames, None]):
        if frame is not None:
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
        for packet in encoder.encode(frame):
            packet.time_base = Fraction(1, 25)
            output.mux(track, packet)
    output.close()
    init = (tmp_path / "v" / "init.mp4").read_bytes()
    assert parse_init(init).codec.startswith("avc1.64")
    times = decode_times(init + (tmp_path / "v" / "seg_0.m4s").read_bytes(), tmp_path / "d.mp4")
    assert len(times) == 50 and times[0][2]
