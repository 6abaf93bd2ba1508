"""What a player following a stream sees across a worker restart: numbers, tags, URLs, media."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import av
import httpx

from tests.e2e.conftest import wait_for
from tests.e2e.media_check import segment_maps
from tests.support.hls import parse_media_playlist
from tests.support.mpd_conformance import check_mpds

LLHLS = "origin/index.m3u8"
TS = "origin/mpegts.m3u8"
MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def newest(http: httpx.Client, stream_id: int, path: str) -> int:
    """The msn of the playlist's newest complete segment; -1 while there is none (or no playlist)."""
    response = http.get(f"/live/{stream_id}/{path}")
    if response.status_code != 200:
        return -1
    playlist = parse_media_playlist(response.text)
    return playlist.segments[-1].msn if playlist.segments else -1


def mpd_periods(http: httpx.Client, stream_id: int) -> set[str]:
    response = http.get(f"/live/{stream_id}/index.mpd")
    if response.status_code != 200:
        return set()
    return {p.get("id") for p in ET.fromstring(response.text).findall("d:Period", MPD_NS)}


def discontinuity_numbers(playlist) -> dict[int, int]:
    """msn → discontinuity sequence number as hls.js counts it (`cc`)."""
    number = int(playlist.tag("EXT-X-DISCONTINUITY-SEQUENCE") or 0)
    numbers = {}
    for segment in playlist.segments:
        number += segment.discontinuity
        numbers[segment.msn] = number
    return numbers


def named_msn(playlist) -> int:
    """The highest msn this playlist tells a player of: a segment, a part of the segment in
    progress, or the preload hint."""
    highest = playlist.segments[-1].msn if playlist.segments else playlist.media_sequence - 1
    if playlist.pending_parts:
        highest += 1
    hint = (playlist.preload_hint or {}).get("URI", "")
    if hint.startswith("seg_"):
        highest = max(highest, int(hint[4:].split(".")[0]))
    return highest


def uris(text: str) -> set[str]:
    """Every media URI a playlist names: segments, parts, init segments, the preload hint."""
    playlist = parse_media_playlist(text)
    names = {s.uri for s in playlist.segments} | set(segment_maps(text).values())
    names |= {p.uri for s in playlist.segments for p in s.parts} | {p.uri for p in playlist.pending_parts}
    if playlist.preload_hint:
        names.add(playlist.preload_hint["URI"])
    return names - {None}


@dataclass
class Snapshot:
    """The stream as a player last read it before the restart."""

    llhls: str
    ts: str
    mpd: str
    seen: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, http: httpx.Client, stream_id: int) -> Snapshot:
        texts = [http.get(f"/live/{stream_id}/{path}").text for path in (LLHLS, TS, "index.mpd")]
        snapshot = cls(*texts)
        snapshot.seen = uris(snapshot.llhls) | {s.uri for s in parse_media_playlist(snapshot.ts).segments}
        return snapshot

    @property
    def last_msn(self) -> int:
        return named_msn(parse_media_playlist(self.llhls))

    @property
    def last_ts(self) -> int:
        return parse_media_playlist(self.ts).segments[-1].msn

    @property
    def last_discontinuity(self) -> int:
        return max(discontinuity_numbers(parse_media_playlist(self.llhls)).values())


def wait_for_segments(http: httpx.Client, stream_id: int, after: Snapshot | None = None) -> None:
    """Complete segments in every format; with `after`, live ones of a new worker: past its
    numbers, and a new MPD Period."""
    if after is None:
        wait_for(
            lambda: (
                newest(http, stream_id, LLHLS) >= 1
                and newest(http, stream_id, TS) >= 0
                and mpd_periods(http, stream_id)
            ),
            timeout=30,
            what="segments in every format",
        )
        return
    old_periods = {p.get("id") for p in ET.fromstring(after.mpd).findall("d:Period", MPD_NS)}
    wait_for(
        lambda: (
            live_past(http, stream_id, LLHLS, after.last_msn)
            and live_past(http, stream_id, TS, after.last_ts)
            and mpd_periods(http, stream_id) - old_periods
        ),
        timeout=30,
        what="new segments in every format",
    )


def live_past(http: httpx.Client, stream_id: int, path: str, number: int) -> bool:
    response = http.get(f"/live/{stream_id}/{path}")
    if response.status_code != 200:
        return False
    playlist = parse_media_playlist(response.text)
    return not playlist.ended and bool(playlist.segments) and playlist.segments[-1].msn > number


def decodes(http: httpx.Client, stream_id: int, init_uri: str | None, uri: str) -> tuple[int, int]:
    """The first video frame's size, decoded with PyAV from (init +) the segment."""
    data = b""
    if init_uri is not None:
        data = http.get(f"/live/{stream_id}/origin/{init_uri}").raise_for_status().content
    data += http.get(f"/live/{stream_id}/origin/{uri}").raise_for_status().content
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def check_continues(
    http: httpx.Client, stream_id: int, before: Snapshot, *, exact: bool = True, carried: bool = False
) -> dict[str, str]:
    """Assert that what the new worker serves continues `before`, as RFC 8216bis and the
    DASH-IF guidelines want; returns the texts read. `exact`: the numbers go on right after
    `before`'s (else past them: after a node restart, by the stored point's margin).
    `carried`: the old window is listed on (after a crash), the same URIs at the same
    numbers (or a GAP where the old worker left a segment unfinished), and its DASH Period."""
    llhls_text = http.get(f"/live/{stream_id}/{LLHLS}").text
    llhls = parse_media_playlist(llhls_text)
    old_llhls = parse_media_playlist(before.llhls)
    kept = [s for s in llhls.segments if s.msn <= before.last_msn]
    new = [s for s in llhls.segments if s.msn > before.last_msn]
    if carried:
        assert llhls.media_sequence >= old_llhls.media_sequence, "EXT-X-MEDIA-SEQUENCE went back"
        listed = {s.msn: s.uri for s in old_llhls.segments}
        assert kept and all(s.gap or listed.get(s.msn) == s.uri for s in kept), (
            "the old window is not listed on:\n" + llhls_text
        )
    else:
        assert llhls.media_sequence > before.last_msn and not kept, "EXT-X-MEDIA-SEQUENCE went back"
    numbers = discontinuity_numbers(llhls)
    assert new and _follows(numbers[new[0].msn], before.last_discontinuity, exact), (
        "the first new segment is not a counted discontinuity:\n" + llhls_text
    )
    new_uris = {s.uri for s in new} | {p.uri for s in new for p in s.parts} | {p.uri for p in llhls.pending_parts}
    assert not new_uris & before.seen, "a URL of the old worker names new media"
    maps = segment_maps(llhls_text)
    newest = llhls.segments[-1].uri
    assert decodes(http, stream_id, maps[newest], newest)

    ts_text = http.get(f"/live/{stream_id}/{TS}").text
    ts = parse_media_playlist(ts_text)
    old_ts = parse_media_playlist(before.ts)
    if carried:
        assert ts.media_sequence >= old_ts.media_sequence, "the TS playlist's EXT-X-MEDIA-SEQUENCE went back"
    else:
        assert ts.media_sequence > before.last_ts, "the TS playlist's EXT-X-MEDIA-SEQUENCE went back"
    new_ts = [s for s in ts.segments if s.msn > before.last_ts]
    assert _follows(discontinuity_numbers(ts)[new_ts[0].msn], max(discontinuity_numbers(old_ts).values()), exact), (
        "the first new TS segment is not a counted discontinuity:\n" + ts_text
    )
    first = new_ts[0]
    assert first.uri == f"ts_{first.msn}.ts" and first.uri not in before.seen
    assert decodes(http, stream_id, None, first.uri)

    mpd_text = http.get(f"/live/{stream_id}/index.mpd").text
    old, current = ET.fromstring(before.mpd), ET.fromstring(mpd_text)
    assert current.get("availabilityStartTime") == old.get("availabilityStartTime")
    old_periods = {p.get("id") for p in old.findall("d:Period", MPD_NS)}
    periods = current.findall("d:Period", MPD_NS)
    assert periods and periods[-1].get("id") not in old_periods
    if not carried:
        assert not old_periods & {p.get("id") for p in periods}
    numbers = [int(t.get("startNumber")) for t in periods[-1].iter(f"{{{MPD_NS['d']}}}SegmentTemplate")]
    assert min(numbers) > before.last_msn
    check_mpds([before.mpd, mpd_text])  # a carried Period keeps its start, its segments their t and d
    return {"llhls": llhls_text, "ts": ts_text, "mpd": mpd_text}


def _follows(number: int, before: int, exact: bool) -> bool:
    return number == before + 1 if exact else number > before
