"""RTMP in, LL-HLS (CMAF), HLS (MPEG-TS) and DASH out: what a player gets, end to end."""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET

import av
import httpx
import pytest

from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.init_conformance import audio_segment_ready, conformance, conformed
from tests.support.mpd_conformance import watch_mpd
from tests.support.publisher import ffmpeg_publish

SECONDS = 9
FRAME = 1 / 25
MPD_NS = {"mpd": "urn:mpeg:dash:schema:mpd:2011"}


def decode_times(data: bytes, kind: str = "video") -> list[float]:
    """Presentation times (s) of every frame decoded from `data` (init + media, or TS)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        return [float(f.pts * f.time_base) for f in container.decode(stream)]


def assert_continuous(runs: list[list[float]], step: float, tolerance: float) -> None:
    """Each run of frame times starts where the previous one ended, without gap or overlap."""
    for previous, current in zip(runs, runs[1:]):
        gap = min(current) - max(previous)
        assert abs(gap - step) <= tolerance, f"gap of {gap:.3f}s between segments (expected {step})"


@pytest.fixture(scope="module")
def broadcast(media_node):
    """One 9 s broadcast (48 kHz mono AAC, which FLV's audio header calls 44 kHz stereo)
    observed live by a player, then read back complete after it ends."""
    with httpx.Client(base_url=media_node.base_url, headers=media_node.headers, timeout=15) as http:
        stream = http.post("/streaming/streams", json={"name": "e2e broadcast"}).json()
        base = f"/live/{stream['id']}"
        publisher = ffmpeg_publish(stream["push_url"], seconds=SECONDS, sample_rate=48000)
        seen: dict = {"stream": stream, "base": base}
        master = wait_for(lambda: fetch_ok(http, f"{base}/master.m3u8"), what="master playlist")
        seen["master"] = master.text
        variants, media = parse_master_playlist(master.text)
        seen["variants"], seen["media"] = variants, media
        seen["first_media_playlists"] = {  # as a player loads them right after the master
            uri: parse_media_playlist(http.get(f"{base}/{uri}").text)
            for uri in [v.uri for v in variants] + [m["URI"] for m in media if "URI" in m]
        }
        playlist_url = f"{base}/{variants[0].uri}"
        live_text = wait_for(lambda: fetch_ok(http, playlist_url), what="media playlist").text
        seen["live_playlist"] = parse_media_playlist(live_text)
        seen["blocking"] = blocking_reload(http, playlist_url, seen["live_playlist"])
        hint = seen["live_playlist"].preload_hint
        rendition_dir = playlist_url.rsplit("/", 1)[0]
        seen["hinted_part"] = http.get(f"{rendition_dir}/{hint['URI']}") if hint else None
        time.sleep(2)
        seen["parts_check"] = read_parts_and_segment(http, playlist_url)
        seen["status_live"] = http.get(f"/streaming/streams/{stream['id']}").json()
        wait_for(lambda: fetch_ok(http, f"{base}/index.mpd"), what="MPD")
        seen["mpd_watch"] = watch_mpd(http, f"{base}/index.mpd", seconds=3)
        seen["mpd_live"] = seen["mpd_watch"].texts[-1]
        wait_for(lambda: audio_segment_ready(http, stream["id"]), what="an audio segment")
        seen["conformance"] = conformance(http, stream["id"])
        assert publisher.wait(timeout=SECONDS + 30) == 0, publisher.stderr.read().decode()
        final = wait_for(
            lambda: (r := fetch_ok(http, playlist_url)) and "#EXT-X-ENDLIST" in r.text and r,
            what="ENDLIST",
        )
        seen["final_playlist"] = parse_media_playlist(final.text)
        seen["init"] = http.get(f"{rendition_dir}/init.mp4").content
        seen["segments"] = [http.get(f"{rendition_dir}/{s.uri}").content for s in seen["final_playlist"].segments]
        seen["audio"] = read_audio(http, base, media)
        seen["ts"] = read_ts(http, base)
        seen["mpd_final"] = http.get(f"{base}/index.mpd")
        seen["status_after"] = wait_for(
            lambda: (s := http.get(f"/streaming/streams/{stream['id']}").json())["live"] is False and s,
            what="live=false",
        )
        wait_for(
            lambda: http.get(f"{base}/master.m3u8").status_code == 404, timeout=30, what="offline stream to answer 404"
        )
        return seen


def blocking_reload(http: httpx.Client, url: str, playlist) -> dict:
    """Ask for the part after the last one listed, as hls.js does in low-latency mode."""
    msn = playlist.segments[-1].msn + 1 if playlist.segments else playlist.media_sequence
    part = len(playlist.pending_parts)
    response = http.get(url, params={"_HLS_msn": msn, "_HLS_part": part})
    return {"msn": msn, "part": part, "response": response}


def read_parts_and_segment(http: httpx.Client, url: str) -> dict:
    """A complete segment of the live playlist, its parts as listed, and the segment file."""
    playlist = parse_media_playlist(http.get(url).text)
    segment = next(s for s in reversed(playlist.segments) if s.parts)
    directory = url.rsplit("/", 1)[0]
    return {
        "segment": segment,
        "init": http.get(f"{directory}/init.mp4").content,
        "whole": http.get(f"{directory}/{segment.uri}").content,
        "parts": [http.get(f"{directory}/{p.uri}").content for p in segment.parts],
    }


def read_audio(http, base, media) -> dict:
    audio = [m for m in media if m.get("TYPE") == "AUDIO"]
    if not audio:
        return {}
    url = f"{base}/{audio[0]['URI']}"
    directory = url.rsplit("/", 1)[0]
    playlist = parse_media_playlist(http.get(url).text)
    init = http.get(f"{directory}/init.mp4").content
    return {
        "playlist": playlist,
        "segments": [init + http.get(f"{directory}/{s.uri}").content for s in playlist.segments],
    }


def read_ts(http, base) -> dict:
    variants, _ = parse_master_playlist(http.get(f"{base}/master_mpegts.m3u8").text)
    url = f"{base}/{variants[0].uri}"
    directory = url.rsplit("/", 1)[0]
    playlist = parse_media_playlist(http.get(url).text)
    return {
        "variants": variants,
        "playlist": playlist,
        "segments": [http.get(f"{directory}/{s.uri}").content for s in playlist.segments],
    }


def test_master_playlist_lists_the_origin_with_codecs(broadcast):
    variant = broadcast["variants"][0]
    assert variant.attributes["RESOLUTION"] == "320x240"
    assert variant.attributes["CODECS"].startswith("avc1.") and "mp4a.40.2" in variant.attributes["CODECS"]
    assert int(variant.attributes["BANDWIDTH"]) > 0
    assert float(variant.attributes["FRAME-RATE"]) == pytest.approx(25, abs=0.1)


def test_the_first_media_playlists_list_a_complete_segment(broadcast):
    """hls.js takes a first media playlist of parts only for a dead level (levelEmptyError)."""
    first = broadcast["first_media_playlists"]
    assert len(first) == 2  # the origin and the audio
    for uri, playlist in first.items():
        assert playlist.segments and not playlist.segments[0].gap, (uri, playlist)


def test_live_media_playlist_is_low_latency_hls(broadcast):
    playlist = broadcast["live_playlist"]
    assert int(playlist.tag("EXT-X-VERSION")) >= 9
    assert "CAN-BLOCK-RELOAD=YES" in playlist.tag("EXT-X-SERVER-CONTROL")
    assert "PART-HOLD-BACK" in playlist.tag("EXT-X-SERVER-CONTROL")
    assert "PART-TARGET=0.5" in playlist.tag("EXT-X-PART-INF")
    assert playlist.tag("EXT-X-MAP") and playlist.preload_hint["TYPE"] == "PART"
    assert playlist.tag("EXT-X-PROGRAM-DATE-TIME")
    all_parts = [p for s in playlist.segments for p in s.parts] + playlist.pending_parts
    assert all_parts and all(p.duration <= 0.5 * 1.5 for p in all_parts)
    assert playlist.target_duration >= max((s.duration for s in playlist.segments), default=0)


def test_blocking_reload_returns_the_requested_part(broadcast):
    blocking = broadcast["blocking"]
    assert blocking["response"].status_code == 200
    playlist = parse_media_playlist(blocking["response"].text)
    msn, part = blocking["msn"], blocking["part"]
    listed = {(s.msn, i) for s in playlist.segments for i, _ in enumerate(s.parts)}
    next_msn = playlist.segments[-1].msn + 1 if playlist.segments else playlist.media_sequence
    listed |= {(next_msn, i) for i, _ in enumerate(playlist.pending_parts)}
    assert (msn, part) in listed or any(m > msn for m, _ in listed)
    assert broadcast["hinted_part"] is not None and broadcast["hinted_part"].status_code == 200


@pytest.mark.both_databases
def test_status_is_true_while_live_and_after(broadcast):
    live, after = broadcast["status_live"], broadcast["status_after"]
    assert live["live"] is True and live["stream_source_type"] == "rtmp"
    assert (live["video_width"], live["video_height"]) == (320, 240)
    assert live["frame_rate"] == pytest.approx(25, abs=1.0)
    assert live["transcoding_speed"] == pytest.approx(1.0, abs=0.5)
    assert live["transcoded_qualities"] == ["origin"] and live["started_at_primary"]
    assert after["stream_source_type"] is None and after["finished_at_primary"]
    assert after["finished_at_primary"] > after["started_at_primary"]


def test_cmaf_segments_decode_with_continuous_timestamps(broadcast):
    init, segments = broadcast["init"], broadcast["segments"]
    playlist = broadcast["final_playlist"]
    assert len(segments) >= 3
    runs = [decode_times(init + data) for data in segments]
    assert all(runs), "a segment decoded to no frames"
    assert_continuous(runs, FRAME, 0.002)
    for segment, run in zip(playlist.segments, runs):
        assert segment.duration == pytest.approx(len(run) * FRAME, abs=0.002)
    total = sum(len(run) for run in runs) * FRAME
    assert total >= SECONDS - 2.5  # the first part of the window may have rolled out


def test_parts_add_up_to_their_segment(broadcast):
    check = broadcast["parts_check"]
    segment = check["segment"]
    assert segment.parts[0].independent and not any(p.independent for p in segment.parts[1:])
    assert sum(p.duration for p in segment.parts) == pytest.approx(segment.duration, abs=0.002)
    assert b"".join(check["parts"]) == check["whole"]
    frames = decode_times(check["init"] + check["whole"])
    assert len(frames) * FRAME == pytest.approx(segment.duration, abs=0.002), (segment, frames)


def test_audio_rendition_decodes_continuously(broadcast):
    audio = broadcast["audio"]
    assert audio, "no audio rendition in the master playlist"
    runs = [decode_times(data, "audio") for data in audio["segments"]]
    for previous, current in zip(runs, runs[1:]):
        gap = min(current) - max(previous)
        assert 0 < gap < 0.05, f"audio gap {gap:.3f}s"


def test_init_segments_and_manifests_say_what_the_source_is(broadcast):
    """Issue 17: mdhd, mp4a, the MPD and the master said 44.1 kHz stereo, samples jittered."""
    facts = conformed(broadcast["conformance"])
    audio = facts["audio"]
    assert (audio.timescale, audio.sample_rate, audio.channel_count) == (48000, 48000, 1)
    assert facts["origin"].sps_size == (320, 240)


def test_mpegts_playlist_and_segments(broadcast):
    ts = broadcast["ts"]
    playlist = ts["playlist"]
    assert ts["variants"][0].attributes["RESOLUTION"] == "320x240"
    assert playlist.ended and int(playlist.tag("EXT-X-VERSION")) >= 3
    runs = [decode_times(data) for data in ts["segments"]]
    assert_continuous(runs, FRAME, 0.002)
    cmaf = broadcast["final_playlist"]
    assert [round(s.duration, 2) for s in playlist.segments][-3:] == [round(s.duration, 2) for s in cmaf.segments][
        -3:
    ], "TS and CMAF segments should cut on the same keyframes"


def test_dash_manifest_describes_the_same_segments(broadcast):
    root = ET.fromstring(broadcast["mpd_live"])
    assert root.get("type") == "dynamic"
    assert root.find("mpd:UTCTiming", MPD_NS) is not None
    templates = root.findall(".//mpd:SegmentTemplate", MPD_NS)
    assert templates and all("$Number$" in t.get("media") for t in templates)
    assert any(t.get("availabilityTimeOffset") for t in templates) or any(
        e.get("availabilityTimeOffset") for e in root.iter()
    )
    assert broadcast["mpd_final"].status_code == 200


def test_dash_manifest_keeps_what_it_announced_across_refreshes(broadcast):
    """Period ids keep their start, segments their t and d, availabilityStartTime its value;
    the latency target's ProducerReferenceTime exists; UTCTiming is absolute."""
    broadcast["mpd_watch"].assert_conformant()
