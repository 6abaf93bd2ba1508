"""LL-HLS playlist text from a hand-made window model."""

from packager_testkit import discontinuity_numbers, parse_media_playlist

from packager.hls import AudioRendition, RenditionReport, Variant, master_playlist, media_playlist, target_duration
from packager.window import Part, Segment


def _segment(msn, parts, complete=True, discontinuity=False, init="v/init.mp4"):
    segment = Segment(
        msn,
        f"v/seg_{msn}.m4s",
        init,
        start=msn * 180000,
        timescale=90000,
        wall_clock=1_800_000_000 + 2 * msn,
        discontinuity=discontinuity,
    )
    for index, ticks in enumerate(parts):
        segment.parts.append(Part(msn, index, f"v/seg_{msn}.{index}.m4s", ticks, 90000, index == 0, 1000))
    segment.complete = complete
    return segment


def test_media_playlist_lists_recent_parts_and_hints_the_next():
    segments = [_segment(n, [43200] * 4 + [7200]) for n in range(5, 9)] + [_segment(9, [43200, 43200], complete=False)]
    text = media_playlist(
        segments,
        playlist_dir="v",
        target_duration=2,
        part_target=0.5,
        parts_from_msn=7,
        preload_hint="v/seg_9.2.m4s",
        rendition_reports=[RenditionReport("../audio/index.m3u8", 9, 1)],
    )
    playlist = parse_media_playlist(text)
    assert playlist.segments[0].msn == 5 and "#EXT-X-MEDIA-SEQUENCE:5" in text
    assert playlist.tags["EXT-X-PART-INF"] == "PART-TARGET=0.5"
    assert playlist.tags["EXT-X-SERVER-CONTROL"] == "CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,HOLD-BACK=6.0"
    assert [len(s.parts) for s in playlist.segments] == [0, 0, 5, 5, 2]
    assert playlist.segments[-1].duration is None
    assert playlist.preload_hint == "seg_9.2.m4s"
    assert playlist.segments[2].parts[0].independent and not playlist.segments[2].parts[1].independent
    assert playlist.segments[0].program_date_time == "2027-01-15T08:00:10.000Z"
    assert '#EXT-X-RENDITION-REPORT:URI="../audio/index.m3u8",LAST-MSN=9,LAST-PART=1' in text
    assert "#EXT-X-ENDLIST" not in text


def test_ended_playlist_has_no_hint_and_discontinuity_changes_the_map():
    segments = [_segment(0, [90000, 90000]), _segment(1, [90000], discontinuity=True, init="v/init_1.mp4")]
    text = media_playlist(
        segments,
        playlist_dir="v",
        target_duration=2,
        part_target=1.0,
        parts_from_msn=0,
        preload_hint="v/seg_2.0.m4s",
        ended=True,
        discontinuity_sequence=3,
    )
    lines = text.splitlines()
    assert lines[-1] == "#EXT-X-ENDLIST" and "PRELOAD-HINT" not in text
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:3" in lines
    assert lines.index("#EXT-X-DISCONTINUITY") < lines.index('#EXT-X-MAP:URI="init_1.mp4"')
    assert lines.index('#EXT-X-MAP:URI="init.mp4"') < lines.index("seg_0.m4s")


def test_target_duration_is_the_ceiling():
    assert target_duration([2.0]) == 2
    assert target_duration([2.0, 2.0053]) == 3
    assert target_duration([0.2]) == 1
    assert target_duration([], minimum=2.0) == 2


def test_master_playlist():
    text = master_playlist(
        [
            Variant("720p/index.m3u8", 3_000_000, 2_500_000, 1280, 720, "avc1.64001f,mp4a.40.2", 30.0),
            Variant("360p/index.m3u8", 900_000, 800_000, 640, 360, "avc1.64001e,mp4a.40.2", None),
        ],
        AudioRendition("audio/index.m3u8", 2),
    )
    lines = text.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert lines[3] == (
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,'
        'CHANNELS="2",URI="audio/index.m3u8"'
    )
    assert lines[4] == (
        "#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,"
        'CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO="audio",'
        "CLOSED-CAPTIONS=NONE"
    )
    assert lines[5] == "720p/index.m3u8" and "FRAME-RATE" not in lines[6]
    # Without it, Shaka Player probes a segment for CEA-608 captions, and at a stream's start
    # picks a partial one that has no URI of its own (TypeError in its manifest load).
    assert lines[6].endswith(",CLOSED-CAPTIONS=NONE")


def _slide(window, segments, target=2):
    for segment in segments:
        window.open_segment(segment)
        window.complete_current()
        window.trim(target)
        yield media_playlist(
            window.segments,
            playlist_dir="v",
            target_duration=target,
            part_target=0.5,
            parts_from_msn=segment.msn,
            preload_hint=None,
            discontinuity_sequence=window.discontinuity_sequence,
        )


def test_a_discontinuity_keeps_its_tag_at_the_head_of_the_window_and_numbers_never_change():
    from packager.window import TrackWindow

    window = TrackWindow(2)
    segments = [
        _segment(n, [90000, 90000], complete=False, discontinuity=n in (2, 3), init=f"v/init_{min(n, 2)}.mp4")
        for n in range(7)
    ]
    seen: dict[int, int] = {}
    for text in _slide(window, segments):
        for msn, number in discontinuity_numbers(parse_media_playlist(text)).items():
            assert seen.setdefault(msn, number) == number, f"segment {msn} changed its discontinuity number"
    assert seen == {0: 0, 1: 0, 2: 1, 3: 2, 4: 2, 5: 2, 6: 2}
    text = media_playlist(
        [segments[3], segments[4]],
        playlist_dir="v",
        target_duration=2,
        part_target=0.5,
        parts_from_msn=3,
        preload_hint=None,
        discontinuity_sequence=1,
    )
    assert text.splitlines()[6:8] == ["#EXT-X-DISCONTINUITY-SEQUENCE:1", "#EXT-X-DISCONTINUITY"]
