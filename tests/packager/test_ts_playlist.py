"""HLS v3 playlist text: target duration, sequences, discontinuities and the master."""

from __future__ import annotations

import os

import pytest

from packager.ts_playlist import (
    TsMediaPlaylist,
    TsSegment,
    TsVariant,
    rounded_duration,
    write_ts_master,
)


def seg(n: int, duration: float = 2.0, discontinuity: bool = False) -> TsSegment:
    return TsSegment(sequence=n, path=f"origin/ts_{n}.ts", duration=duration, discontinuity=discontinuity)


def test_rounding_is_half_up():
    assert [rounded_duration(d) for d in (1.499, 1.5, 2.0, 2.5, 2.501)] == [1, 2, 2, 3, 3]


def test_target_duration_covers_every_segment_and_never_shrinks():
    playlist = TsMediaPlaylist(window_segments=2)
    playlist.add(seg(0, 2.0))
    playlist.add(seg(1, 3.5))
    playlist.add(seg(2, 2.0))
    playlist.add(seg(3, 2.0))
    text = playlist.render()
    assert "#EXT-X-TARGETDURATION:4\n" in text
    assert "#EXT-X-MEDIA-SEQUENCE:2\n" in text
    assert text.count("#EXTINF:") == 2


def test_window_returns_what_slid_out():
    playlist = TsMediaPlaylist(window_segments=2, start_sequence=10)
    assert playlist.add(seg(10)) == []
    assert playlist.add(seg(11)) == []
    assert playlist.add(seg(12)) == [seg(10)]
    assert "#EXT-X-MEDIA-SEQUENCE:11\n" in playlist.render()


def test_exact_text_with_discontinuity_and_endlist():
    playlist = TsMediaPlaylist(window_segments=3)
    playlist.add(seg(0, 2.0))
    playlist.add(seg(1, 1.96, discontinuity=True))
    playlist.ended = True
    assert playlist.render() == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
        "#EXTINF:2.000,\nts_0.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.960,\nts_1.ts\n#EXT-X-ENDLIST\n"
    )


def test_discontinuity_sequence_counts_discontinuities_that_slid_out():
    playlist = TsMediaPlaylist(window_segments=1)
    playlist.add(seg(0))
    playlist.add(seg(1, discontinuity=True))
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:0\n" in playlist.render()
    assert "#EXT-X-DISCONTINUITY\n" in playlist.render()
    playlist.add(seg(2))
    text = playlist.render()
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1\n" in text
    assert "#EXT-X-DISCONTINUITY\n" not in text


def test_no_discontinuity_tags_when_there_was_none():
    playlist = TsMediaPlaylist(window_segments=3)
    playlist.add(seg(0))
    assert "DISCONTINUITY" not in playlist.render()


def test_window_must_hold_a_segment():
    with pytest.raises(ValueError, match="at least 1"):
        TsMediaPlaylist(window_segments=0)


def test_master_attributes_follow_the_spec(tmp_path):
    text = write_ts_master(
        tmp_path,
        [
            TsVariant("720p", 3_000_000, (1280, 720), "avc1.64001f,mp4a.40.2", 29.97),
            TsVariant("audio", 128_000.0, None, None, None),
        ],
    )
    assert text == (
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,FRAME-RATE=29.970,"
        'CODECS="avc1.64001f,mp4a.40.2"\n720p/mpegts.m3u8\n'
        "#EXT-X-STREAM-INF:BANDWIDTH=128000\naudio/mpegts.m3u8\n"
    )
    assert (tmp_path / "master_mpegts.m3u8").read_text() == text
    assert os.stat(tmp_path / "master_mpegts.m3u8").st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["master_mpegts.m3u8"]  # no temp file left
