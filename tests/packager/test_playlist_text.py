"""Media playlists sent as updates and kept in pieces (issue 19): the whole text the node
renders is the one-go rendering, a delta update (RFC 8216bis 6.2.5.1) applies over it, and a
part's update stays small whatever the window."""

from __future__ import annotations

import json

import pytest
from packager_testkit import make_clip, package, parse_media_playlist

from packager import hls
from packager.hls import Entry, media_playlist
from packager.playlist_text import MediaPlaylistText, PlaylistUpdate
from packager.window import Part, Segment
from tests.support.playlist_texts import with_texts

CLIP_SECONDS = 40


@pytest.fixture(scope="module")
def dvr_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dvr_text")
    clip = make_clip(tmp / "clip.mp4", seconds=CLIP_SECONDS, b_frames=False)
    return package(clip, tmp / "out", dvr_seconds=3600)


def _media_sequence(text):
    return next(line for line in text.splitlines() if line.startswith("#EXT-X-MEDIA-SEQUENCE:"))


def _comparable(segment):
    return (
        segment.msn,
        segment.duration,
        segment.uri,
        segment.program_date_time,
        segment.map_uri,
        segment.discontinuity,
    )


def test_every_delta_update_applies_over_the_full_playlist(dvr_run):
    """A client holding the full playlist and reading a delta gets the full playlist again:
    the skipped segments are the oldest, the rest is listed as in the full one, the first
    after the skip with its map and date, and what is listed after the skip covers at
    least CAN-SKIP-UNTIL."""
    deltas = 0
    for event in with_texts(dvr_run.events):
        if event["event"] != "playlist" or event["rendition"] != "origin":
            continue
        full = parse_media_playlist(event["text"])
        if full.ended:
            assert event["delta"] is None and "CAN-SKIP-UNTIL" not in event["text"]
            continue
        can_skip_until = 6.0 * full.target_duration  # the RFC's least
        assert f"CAN-SKIP-UNTIL={can_skip_until}," in full.tags["EXT-X-SERVER-CONTROL"]
        if event["delta"] is None:
            continue
        deltas += 1
        delta = parse_media_playlist(event["delta"])
        skipped = int(delta.tags["EXT-X-SKIP"].removeprefix("SKIPPED-SEGMENTS="))
        assert skipped > 0
        assert _media_sequence(event["delta"]) == _media_sequence(event["text"])
        assert delta.tags.get("EXT-X-DISCONTINUITY-SEQUENCE") == full.tags.get("EXT-X-DISCONTINUITY-SEQUENCE")
        merged = full.segments[:skipped] + delta.segments  # the client's copy of the skipped ones
        assert [_comparable(s) for s in merged] == [_comparable(s) for s in full.segments]
        assert [[p.uri for p in s.parts] for s in merged] == [[p.uri for p in s.parts] for s in full.segments]
        assert delta.preload_hint == full.preload_hint
        first = delta.segments[0]
        assert first.map_uri is not None and first.program_date_time is not None
        assert sum(s.duration or 0 for s in delta.segments) >= can_skip_until - 1e-6
        assert sum(s.duration or 0 for s in delta.segments[1:]) < can_skip_until  # no more than that kept
    assert deltas > 20


def test_the_on_disk_copy_is_the_served_text(dvr_run):
    final = [e for e in with_texts(dvr_run.events) if e["event"] == "playlist" and e["rendition"] == "origin"][-1]
    assert (dvr_run.out_dir / "origin/index.m3u8").read_text() == final["text"]
    assert final["text"].endswith("#EXT-X-ENDLIST\n")
    assert len(parse_media_playlist(final["text"]).segments) >= CLIP_SECONDS // 2 - 1  # the whole DVR window


def test_a_parts_update_does_not_grow_with_the_window(dvr_run):
    """Each update carries the segments settled since the last one (one at most, at a
    segment's end) and a tail of the last few segments, never the window (it used to
    carry the whole text: 600 KB per part for 4 hours)."""
    updates = [e for e in dvr_run.of("playlist", "origin") if "#EXT-X-ENDLIST" not in e["tail"]]
    assert max(len(e["entries"]) for e in updates[1:]) == 1
    late = updates[len(updates) // 2 :]
    sizes = [len(json.dumps({k: v for k, v in e.items() if k not in ("text", "delta")})) for e in late]
    assert max(sizes) < 3000, max(sizes)  # the window is ~20 segments by then, its text ~2 KB more


def test_no_delta_updates_on_a_short_live_window(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=12, b_frames=False)
    run = package(clip, tmp_path / "out")
    for event in run.of("playlist", "origin"):
        assert "CAN-SKIP-UNTIL" not in event["text"] and event["delta"] is None


def _segment(msn, init="v/init.mp4", discontinuity=False, complete=True):
    segment = Segment(msn, f"v/seg_{msn}.m4s", init, msn * 180000, 90000, 1_800_000_000 + 2 * msn, discontinuity)
    segment.parts = [Part(msn, i, f"v/seg_{msn}.{i}.m4s", 45000, 90000, i == 0, 100) for i in range(4)]
    segment.complete = complete
    return segment


def _header(first_msn, discontinuity_sequence=0, can_skip_until=12.0):
    return hls.playlist_header(
        target_duration=2,
        part_target=0.5,
        first_msn=first_msn,
        discontinuity_sequence=discontinuity_sequence,
        can_skip_until=can_skip_until,
    )


def test_the_kept_text_is_the_one_go_rendering_across_trims_and_new_maps():
    """Entries sent one by one, the window trimmed from the front (the head's map written again),
    a discontinuity with a new map in the middle: the text is `hls.media_playlist`'s."""
    segments = [_segment(n) for n in range(10)] + [_segment(n, "v/init_1.mp4", n == 10) for n in range(10, 30)]
    kept = MediaPlaylistText()
    for end in range(1, len(segments)):
        first = max(0, end - 12)
        window = segments[first:end]
        settled = window[:-2]  # the last two keep their parts
        sent = [hls.entry(s, "v") for s in settled if s.msn > kept.last_msn]
        tail = hls.playlist_tail(
            window[len(settled) :],
            playlist_dir="v",
            previous_map=hls.map_uri(settled[-1], "v") if settled else None,
            parts_from_msn=window[len(settled)].msn,
            preload_hint=None,
        )
        kept.update(PlaylistUpdate(_header(first, int(first > 10)), first, sent, tail, 4.0, 12.0, fresh=end == 1))
        expected = media_playlist(
            window,
            playlist_dir="v",
            target_duration=2,
            part_target=0.5,
            parts_from_msn=window[len(settled)].msn,
            preload_hint=None,
            discontinuity_sequence=int(first > 10),
            can_skip_until=12.0,
        )
        assert kept.full().decode() == expected, end
    assert len(kept._entries) < 30  # the trimmed head was let go (compacted)


def test_a_skipped_discontinuity_stays_counted_and_the_map_is_stated_after_the_skip():
    entries = [hls.entry(_segment(n), "v") for n in range(3)]
    entries += [hls.entry(_segment(n, "v/init_1.mp4", n == 3), "v") for n in range(3, 12)]
    kept = MediaPlaylistText()
    kept.update(PlaylistUpdate(_header(0), 0, entries, "#EXT-X-PRELOAD-HINT:x\n", 0.0, 12.0, fresh=True))
    delta = kept.delta().decode()
    lines = delta.splitlines()
    # 12 entries of 2 s: the last 6 (12 s) stay, the 6 before go, the discontinuity among them
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=6" in lines and "#EXT-X-DISCONTINUITY" not in lines
    after = lines[lines.index("#EXT-X-SKIP:SKIPPED-SEGMENTS=6") + 1 :]
    assert after[0] == '#EXT-X-MAP:URI="init_1.mp4"' and after[1].startswith("#EXT-X-PROGRAM-DATE-TIME:")
    assert after.count("#EXTINF:2.0,") == 6 and after[-1] == "#EXT-X-PRELOAD-HINT:x"
    assert kept.delta() is kept.delta() and kept.full() is kept.full()  # rendered once per update


def test_the_skip_boundary_counts_the_tail_and_never_skips_the_last_entry():
    entries = [hls.entry(_segment(n), "v") for n in range(8)]
    kept = MediaPlaylistText()
    kept.update(PlaylistUpdate(_header(0), 0, entries, "", 6.0, 12.0, fresh=True))
    assert kept.skippable() == 5  # 16 s + 6 s of tail: the entries from 10 s on stay
    kept.update(PlaylistUpdate(_header(0), 0, [], "", 0.0, 0.0))
    assert kept.skippable() == 0 and kept.delta() is None  # not offered
    kept.update(PlaylistUpdate(_header(0), 0, [], "", 100.0, 12.0))
    assert kept.skippable() == 7
    kept.update(PlaylistUpdate(_header(7), 7, [], "", 100.0, 12.0))
    assert kept.skippable() == 0 and kept.delta() is None  # one entry left: never skipped


def test_entries_must_follow_each_other():
    kept = MediaPlaylistText()
    kept.update(PlaylistUpdate(_header(0), 0, [hls.entry(_segment(3), "v")], "", 0.0, 12.0, fresh=True))
    with pytest.raises(ValueError, match="does not follow"):
        kept.update(PlaylistUpdate(_header(0), 0, [hls.entry(_segment(3), "v")], "", 0.0, 12.0))
    kept.update(PlaylistUpdate(_header(0), 0, [hls.entry(_segment(0), "v")], "", 0.0, 12.0, fresh=True))
    assert [e.msn for e in kept.entries] == [0]  # a new producer starts over
    assert Entry.from_plain(json.loads(json.dumps(kept.entries[0].plain()))) == kept.entries[0]
