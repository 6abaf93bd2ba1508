"""TsRendition end to end: real H.264/AAC from ffmpeg, demuxed with PyAV, packaged, then read
back the way a player would (bytes, PyAV decode of each file, the HLS demuxer on the playlist)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import pytest

from packager.ts_output import TsRendition

FRAME = 0.04  # 25 fps
VIDEO_PID = 0x100
PMT_PID = 0x1000


def make_clip(
    path: Path,
    *,
    seconds: float,
    gop: int = 25,
    audio: bool = True,
    video: bool = True,
    size: str = "320x240",
    preset: str = "ultrafast",
) -> Path:
    args = ["ffmpeg", "-v", "error", "-y"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-t", str(seconds)]
    if video:
        args += [
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(gop),
            "-keyint_min",
            str(gop),
            "-sc_threshold",
            "0",
        ]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    subprocess.run([*args, str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    # veryfast uses B-frames: presentation order differs from decode order, as from real encoders.
    return make_clip(tmp_path_factory.mktemp("media") / "clip.flv", seconds=7, preset="veryfast")


def package(
    source: Path,
    out_dir: Path,
    *,
    target: float = 2.0,
    window: int = 8,
    endlist: bool = True,
    discontinuity_after: float | None = None,
) -> tuple[list[dict], TsRendition]:
    """Feed every packet of `source`, flagging the first keyframe >= `target` s after the last start."""
    events: list[dict] = []
    rendition = TsRendition(out_dir, "origin", events.append, window_segments=window)
    with av.open(str(source)) as container:
        indexes = {s.index: rendition.add_stream(s) for s in container.streams}
        last_start: float | None = None
        marked = False
        for packet in container.demux():
            if packet.dts is None:
                continue
            start = False
            if packet.stream.type == "video" and packet.is_keyframe:
                t = float(packet.pts * packet.time_base)
                if last_start is None or t - last_start >= target - 1e-6:
                    start, last_start = True, t
                    if discontinuity_after is not None and not marked and t >= discontinuity_after:
                        rendition.discontinuity()
                        marked = True
            rendition.mux(indexes[packet.stream_index], packet, segment_start=start)
    rendition.close(endlist=endlist)
    return events, rendition


def ts_headers(data: bytes) -> list[tuple[int, bool, int, bool, bool]]:
    """(pid, payload_unit_start, continuity_counter, has_payload, random_access) per packet."""
    assert len(data) % 188 == 0
    out = []
    for i in range(0, len(data), 188):
        p = data[i : i + 188]
        assert p[0] == 0x47
        afc = (p[3] >> 4) & 3
        rai = bool(afc & 2 and p[4] > 0 and p[5] & 0x40)
        out.append((((p[1] & 0x1F) << 8) | p[2], bool(p[1] & 0x40), p[3] & 0xF, bool(afc & 1), rai))
    return out


def continuity_errors(files: list[bytes]) -> list[str]:
    """Counter jumps across the concatenation of `files`; an identical repeated PSI packet is a legal duplicate."""
    errors = []
    last: dict[int, tuple[int, bytes]] = {}
    for n, data in enumerate(files):
        for i, (pid, _, cc, has_payload, _) in enumerate(ts_headers(data)):
            if not has_payload or pid == 0x1FFF:
                continue
            raw = data[i * 188 : (i + 1) * 188]
            if pid in last:
                prev_cc, prev_raw = last[pid]
                duplicate = cc == prev_cc and raw == prev_raw
                if cc != (prev_cc + 1) % 16 and not duplicate:
                    errors.append(f"file {n} packet {i} pid {pid:#x}: cc {prev_cc} -> {cc}")
            last[pid] = (cc, raw)
    return errors


def segment_files(out_dir: Path, events: list[dict]) -> list[Path]:
    return [out_dir / e["path"] for e in events if e["event"] == "ts_segment"]


def decoded_video_pts(path: Path) -> tuple[list[float], bool]:
    """Video frame times in presentation order and whether the first decoded frame is a keyframe."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return sorted(float(f.pts * f.time_base) for f in frames), frames[0].key_frame


def parse_media_playlist(text: str) -> dict:
    """A tiny strict parser for the tags this packager writes."""
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    tags: dict = {"segments": [], "endlist": False}
    duration = None
    discontinuity = False
    for line in lines[1:]:
        if line.startswith("#EXTINF:"):
            assert line.endswith(",")
            duration = float(line[len("#EXTINF:") : -1])
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line == "#EXT-X-ENDLIST":
            tags["endlist"] = True
        elif line.startswith("#EXT-X-"):
            name, _, value = line[1:].partition(":")
            tags[name] = int(value)
        else:
            assert duration is not None and not line.startswith("#"), line
            tags["segments"].append((line, duration, discontinuity))
            duration, discontinuity = None, False
    return tags


def test_each_segment_starts_with_pat_pmt_and_a_random_access_keyframe(clip, tmp_path):
    events, _ = package(clip, tmp_path)
    files = segment_files(tmp_path, events)
    assert len(files) == 4
    for path in files:
        headers = ts_headers(path.read_bytes())
        assert headers[0][0] == 0 and headers[0][1], path
        assert headers[1][0] == PMT_PID, path
        first_video = next(h for h in headers if h[0] == VIDEO_PID)
        assert first_video[1] and first_video[4], f"{path}: first video packet lacks PES start + RAI"


def test_continuity_counters_run_on_across_segment_files(clip, tmp_path):
    events, _ = package(clip, tmp_path)
    files = [p.read_bytes() for p in segment_files(tmp_path, events)]
    assert continuity_errors(files) == []
    # The check does catch a break: skipping a file jumps the counters.
    assert continuity_errors([files[0], files[2]])


def test_segments_decode_alone_with_continuous_pts_and_exact_extinf(clip, tmp_path):
    events, _rendition = package(clip, tmp_path)
    files = segment_files(tmp_path, events)
    durations = [e["duration"] for e in events if e["event"] == "ts_segment"]
    assert durations == [2.0, 2.0, 2.0, 1.0]
    previous_end = None
    total_frames = 0
    for path, extinf in zip(files, durations):
        pts, first_is_key = decoded_video_pts(path)
        assert first_is_key, path
        total_frames += len(pts)
        assert abs((pts[-1] - pts[0] + FRAME) - extinf) <= FRAME + 1e-6
        if previous_end is not None:
            assert abs(pts[0] - previous_end) <= FRAME / 2, "gap or overlap at a segment boundary"
        previous_end = pts[-1] + FRAME
    assert total_frames == 175
    playlist = parse_media_playlist((tmp_path / "origin" / "mpegts.m3u8").read_text())
    assert [d for _, d, _ in playlist["segments"]] == durations


def test_playlist_is_hls_v3_and_plays_both_streams(clip, tmp_path):
    events, _ = package(clip, tmp_path)
    text = (tmp_path / "origin" / "mpegts.m3u8").read_text()
    playlist = parse_media_playlist(text)
    assert playlist["EXT-X-VERSION"] == 3
    assert playlist["EXT-X-MEDIA-SEQUENCE"] == 0
    assert playlist["EXT-X-TARGETDURATION"] >= max(round(d) for _, d, _ in playlist["segments"])
    assert [name for name, _, _ in playlist["segments"]] == ["ts_0.ts", "ts_1.ts", "ts_2.ts", "ts_3.ts"]
    assert events[-1] == {"event": "ts_playlist", "rendition": "origin", "path": "origin/mpegts.m3u8", "text": text}
    with av.open(str(tmp_path / "origin" / "mpegts.m3u8")) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        audio_frames = video_frames = 0
        for frame in container.decode(video=0, audio=0):
            if isinstance(frame, av.VideoFrame):
                video_frames += 1
            else:
                audio_frames += 1
    assert video_frames == 175
    assert audio_frames > 300  # 7 s of 1024-sample AAC frames at 48 kHz is ~328


def test_endlist_only_when_asked(clip, tmp_path):
    package(clip, tmp_path / "ended", endlist=True)
    package(clip, tmp_path / "open", endlist=False)
    assert (tmp_path / "ended/origin/mpegts.m3u8").read_text().endswith("#EXT-X-ENDLIST\n")
    assert "#EXT-X-ENDLIST" not in (tmp_path / "open/origin/mpegts.m3u8").read_text()


def test_window_slides_and_old_files_are_deleted_after_the_spec_grace(tmp_path):
    source = make_clip(tmp_path / "long.flv", seconds=13, size="160x120")
    events, _ = package(source, tmp_path / "out", window=1)
    removed = [p for e in events if e["event"] == "removed" for p in e["paths"]]
    assert removed == ["origin/ts_0.ts", "origin/ts_1.ts"]
    assert sorted(p.name for p in (tmp_path / "out/origin").glob("ts_*.ts")) == [
        "ts_2.ts",
        "ts_3.ts",
        "ts_4.ts",
        "ts_5.ts",
        "ts_6.ts",
    ]
    playlist = parse_media_playlist((tmp_path / "out/origin/mpegts.m3u8").read_text())
    assert playlist["EXT-X-MEDIA-SEQUENCE"] == 6
    assert [name for name, _, _ in playlist["segments"]] == ["ts_6.ts"]
    # Every playlist ever published names only files that still existed when it was published.
    for event in events:
        if event["event"] == "removed":
            assert all(not (tmp_path / "out" / p).exists() for p in event["paths"])


def test_discontinuity_marks_the_next_segment(clip, tmp_path):
    _events, _ = package(clip, tmp_path, discontinuity_after=4.0)
    playlist = parse_media_playlist((tmp_path / "origin" / "mpegts.m3u8").read_text())
    assert [(n, disc) for n, _, disc in playlist["segments"]] == [
        ("ts_0.ts", False),
        ("ts_1.ts", False),
        ("ts_2.ts", True),
        ("ts_3.ts", False),
    ]
    assert playlist["EXT-X-DISCONTINUITY-SEQUENCE"] == 0


def test_a_long_gop_makes_segments_as_long_as_the_gop(tmp_path):
    source = make_clip(tmp_path / "gop3.flv", seconds=7, gop=75, size="160x120")
    events, _ = package(source, tmp_path / "out", target=2.0)
    assert [e["duration"] for e in events if e["event"] == "ts_segment"] == [3.0, 3.0, 1.0]
    playlist = parse_media_playlist((tmp_path / "out/origin/mpegts.m3u8").read_text())
    assert playlist["EXT-X-TARGETDURATION"] == 3


def test_short_gops_only_cut_where_flagged(tmp_path):
    source = make_clip(tmp_path / "gop05.flv", seconds=5, gop=12, size="160x120")
    events, _ = package(source, tmp_path / "out", target=2.0)
    files = segment_files(tmp_path / "out", events)
    assert [e["duration"] for e in events if e["event"] == "ts_segment"] == [2.4, 2.4, 0.2]
    keyframes_per_file = [sum(1 for h in ts_headers(p.read_bytes()) if h[0] == VIDEO_PID and h[4]) for p in files]
    # Keyframes every 0.48 s; only those at 0, 2.4 and 4.8 s were flagged.
    assert keyframes_per_file == [5, 5, 1]
    assert continuity_errors([p.read_bytes() for p in files]) == []


def test_all_intra_video_still_starts_every_file_with_pat_pmt(tmp_path):
    # Every frame a keyframe, only some flagged: PAT/PMT open exactly the flagged ones' segments.
    source = make_clip(tmp_path / "intra.flv", seconds=5, gop=1, size="160x120")
    events, _ = package(source, tmp_path / "out")
    files = segment_files(tmp_path / "out", events)
    assert len(files) == 3
    for path in files:
        headers = ts_headers(path.read_bytes())
        assert (headers[0][0], headers[1][0]) == (0, PMT_PID)
        assert decoded_video_pts(path)[1]
    assert continuity_errors([p.read_bytes() for p in files]) == []


def test_audio_only_is_cut_by_time_at_pat_boundaries(tmp_path):
    source = make_clip(tmp_path / "audio.flv", seconds=7, video=False)
    events, _ = package(source, tmp_path / "out")
    files = segment_files(tmp_path / "out", events)
    durations = [e["duration"] for e in events if e["event"] == "ts_segment"]
    assert len(files) == 4
    assert all(2.0 <= d <= 2.2 for d in durations[:-1]), durations
    assert abs(sum(durations) - 7.0) < 0.1
    for path in files:
        headers = ts_headers(path.read_bytes())
        assert headers[0][0] == 0
        first_audio = next(h for h in headers if h[0] == 0x100)
        assert first_audio[1] and first_audio[4], "audio frames are random-access points, as FFmpeg marks them"
        with av.open(str(path)) as container:
            assert sum(f.samples for f in container.decode(audio=0)) > 0
    assert continuity_errors([p.read_bytes() for p in files]) == []


def test_video_only_input(tmp_path):
    source = make_clip(tmp_path / "video.flv", seconds=5, audio=False, size="160x120")
    events, _ = package(source, tmp_path / "out")
    assert [e["duration"] for e in events if e["event"] == "ts_segment"] == [2.0, 2.0, 1.0]


def test_close_without_packets_writes_an_empty_playlist(tmp_path, clip):
    events: list[dict] = []
    rendition = TsRendition(tmp_path, "origin", events.append)
    with av.open(str(clip)) as container:
        rendition.add_stream(container.streams.video[0])
    rendition.close(endlist=True)
    playlist = parse_media_playlist((tmp_path / "origin/mpegts.m3u8").read_text())
    assert playlist["segments"] == [] and playlist["endlist"]


@pytest.mark.parametrize("ts_first", [True, False])
def test_the_same_packet_can_also_be_muxed_into_an_mp4(clip, tmp_path, ts_first):
    events: list[dict] = []
    rendition = TsRendition(tmp_path, "origin", events.append)
    mp4_path = tmp_path / "copy.mp4"
    with av.open(str(clip)) as source, av.open(str(mp4_path), "w") as mp4:
        ts_index, mp4_streams = {}, {}
        for stream in source.streams:
            ts_index[stream.index] = rendition.add_stream(stream)
            mp4_streams[stream.index] = mp4.add_stream_from_template(stream)
        for packet in source.demux():
            if packet.dts is None:
                continue
            before = (packet.pts, packet.dts, packet.time_base, bytes(packet))
            source_index = packet.stream_index
            if ts_first:
                rendition.mux(ts_index[source_index], packet)
                assert (packet.pts, packet.dts, packet.time_base, bytes(packet)) == before
                packet.stream = mp4_streams[source_index]
                mp4.mux(packet)
            else:
                packet.stream = mp4_streams[source_index]
                mp4.mux(packet)
                rendition.mux(ts_index[source_index], packet)
    rendition.close(endlist=True)
    with av.open(str(mp4_path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 175
    (segment,) = segment_files(tmp_path, events)
    pts, first_is_key = decoded_video_pts(segment)
    assert first_is_key and len(pts) == 175
    assert all(abs(b - a - FRAME) < 1e-6 for a, b in zip(pts, pts[1:]))


def test_a_quiet_audio_stream_does_not_hold_segments_back(clip, tmp_path):
    """A segment is published at the keyframe that ends it, whatever the other stream does."""
    published_at: list[float] = []
    latest = [0.0]
    rendition = TsRendition(tmp_path, "origin", lambda e: e["event"] == "ts_segment" and published_at.append(latest[0]))
    cuts: list[float] = []
    with av.open(str(clip)) as container:
        indexes = {s.index: rendition.add_stream(s) for s in container.streams}
        for packet in container.demux():
            if packet.dts is None or (packet.stream.type == "audio" and packet.pts * packet.time_base > 1):
                continue
            t = float(packet.pts * packet.time_base)
            start = packet.stream.type == "video" and packet.is_keyframe and t >= 2 * (len(cuts) + 1) - 0.5
            if start:
                cuts.append(t)
            latest[0] = float(packet.dts * packet.time_base)
            rendition.mux(indexes[packet.stream_index], packet, segment_start=start)
    assert len(published_at) == len(cuts) == 3
    for cut, muxed_up_to in zip(cuts, published_at):
        assert muxed_up_to - cut < 0.3, "segment held back by the interleaver"
    rendition.close(endlist=True)


def test_a_refused_keyframe_does_not_shift_later_cuts(clip, tmp_path):
    """A keyframe the muxer rejects (dts not rising) leaves the cuts where they were."""
    events: list[dict] = []
    rendition = TsRendition(tmp_path, "origin", events.append)
    refused = 0
    with av.open(str(clip)) as container:
        indexes = {s.index: rendition.add_stream(s) for s in container.streams}
        last_start = None
        for packet in container.demux():
            if packet.dts is None:
                continue
            start = False
            if packet.stream.type == "video" and packet.is_keyframe:
                t = float(packet.pts * packet.time_base)
                if last_start is None or t - last_start >= 2 - 1e-6:
                    start, last_start = True, t
                if t > 1:  # the same keyframe again, unflagged, after the real one
                    rendition.mux(indexes[packet.stream_index], packet, segment_start=start)
                    rendition.mux(indexes[packet.stream_index], packet)
                    refused += 1
                    continue
            rendition.mux(indexes[packet.stream_index], packet, segment_start=start)
        assert refused == 6 and rendition.dropped_packets == 6
    rendition.close(endlist=True)
    assert [e["duration"] for e in events if e["event"] == "ts_segment"] == [2.0, 2.0, 2.0, 1.0]
    for path in segment_files(tmp_path, events):
        assert decoded_video_pts(path)[1]


def test_empty_packets_are_skipped(clip, tmp_path):
    events: list[dict] = []
    rendition = TsRendition(tmp_path, "origin", events.append)
    with av.open(str(clip)) as container:
        indexes = {s.index: rendition.add_stream(s) for s in container.streams}
        for packet in container.demux():
            rendition.mux(indexes[packet.stream_index], packet)  # includes the demuxer's flush packets
            empty = av.Packet()
            empty.is_keyframe = True
            rendition.mux(indexes[packet.stream_index], empty, segment_start=True)
    rendition.close(endlist=True)
    (segment,) = segment_files(tmp_path, events)
    assert len(decoded_video_pts(segment)[0]) == 175


def test_ffmpeg_reads_the_playlist_and_the_joined_segments_without_complaint(clip, tmp_path):
    events, _ = package(clip, tmp_path)
    playlist = tmp_path / "origin" / "mpegts.m3u8"
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,nb_read_frames",
            "-of",
            "csv=p=0",
            str(playlist),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stderr == ""
    counts = dict(line.split(",") for line in probe.stdout.split())
    assert counts["video"] == "175" and int(counts["audio"]) > 300
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(p.read_bytes() for p in segment_files(tmp_path, events)))
    # -v verbose shows the demuxer's continuity and PES warnings, not only errors.
    decode = subprocess.run(
        ["ffmpeg", "-v", "verbose", "-i", str(joined), "-f", "null", "-"], capture_output=True, text=True, check=True
    )
    complaints = [
        line
        for line in decode.stderr.splitlines()
        if any(w in line.lower() for w in ("continuity", "corrupt", "error", "discontinuity"))
    ]
    assert complaints == []


def test_start_sequence_names_files_and_events_are_json(clip, tmp_path):
    import json

    events: list[dict] = []
    rendition = TsRendition(tmp_path, "720p", events.append, window_segments=2, start_sequence=40)
    with av.open(str(clip)) as container:
        indexes = {s.index: rendition.add_stream(s) for s in container.streams}
        for packet in container.demux():
            if packet.dts is not None:
                t = float(packet.pts * packet.time_base)
                start = packet.stream.type == "video" and packet.is_keyframe and t > 4
                rendition.mux(indexes[packet.stream_index], packet, segment_start=start)
    rendition.close(endlist=False)
    json.dumps(events)
    segments = [e for e in events if e["event"] == "ts_segment"]
    assert [(e["sequence"], e["path"]) for e in segments] == [
        (40, "720p/ts_40.ts"),
        (41, "720p/ts_41.ts"),
        (42, "720p/ts_42.ts"),
        (43, "720p/ts_43.ts"),
    ]
    assert events[-1]["path"] == "720p/mpegts.m3u8"
    playlist = parse_media_playlist(events[-1]["text"])
    assert playlist["EXT-X-MEDIA-SEQUENCE"] == 42 and not playlist["endlist"]
    assert [n for n, _, _ in playlist["segments"]] == ["ts_42.ts", "ts_43.ts"]


def hevc_clip(path: Path) -> Path:
    """HEVC in MP4: hvcC extradata and length-prefixed packets, as enhanced RTMP delivers them."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-t",
            "5",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-x265-params",
            "log-level=error",
            "-c:a",
            "aac",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.mark.parametrize("kind", ["flv", "mpegts", "hevc"])
def test_every_segment_decodes_alone_and_ffprobe_finds_no_error(tmp_path, kind):
    """FLV (avcC + raw AAC), MPEG-TS (Annex B + ADTS) and HEVC sources alike."""
    if kind == "hevc":
        source = hevc_clip(tmp_path / "clip.mp4")
    else:
        source = make_clip(
            tmp_path / f"clip.{'ts' if kind == 'mpegts' else 'flv'}", seconds=5, size="160x120", preset="veryfast"
        )
    events, _ = package(source, tmp_path / "out")
    files = segment_files(tmp_path / "out", events)
    assert len(files) == 3
    video_frames = 0
    for path in files:
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        with av.open(str(path)) as container:
            audio = sum(f.samples for f in container.decode(audio=0))
        assert frames[0].key_frame, path
        assert audio > 0, path
        video_frames += len(frames)
    assert video_frames == 125
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(p.read_bytes() for p in files))
    for path in (files[1], joined):
        probe = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-count_frames",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "csv=p=0",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert probe.stderr == "", probe.stderr
    assert set(probe.stdout.split()) == {"125"}  # the stream, listed once more under its program


def splice_flv(first: Path, second: Path, out: Path, *, shift_ms: int) -> Path:
    """`second`'s tags after `first`'s, `shift_ms` later: an RTMP publisher changing resolution.

    The FLV demuxer then hands the new sequence header as new_extradata side data on the next
    video packet; the second clip's keyframes carry no SPS/PPS of their own.
    """

    def tags(data: bytes):
        position = 9 + 4  # FLV header, first PreviousTagSize
        while position + 11 <= len(data):
            size = int.from_bytes(data[position + 1 : position + 4], "big")
            yield data[position : position + 11 + size + 4]
            position += 11 + size + 4

    def shifted(tag: bytes) -> bytes:
        stamp = (int.from_bytes(tag[4:7], "big") | tag[7] << 24) + shift_ms
        return tag[:4] + (stamp & 0xFFFFFF).to_bytes(3, "big") + bytes((stamp >> 24,)) + tag[8:]

    second_tags = (shifted(tag) for tag in tags(second.read_bytes()) if tag[0] != 18)  # no script tag
    out.write_bytes(first.read_bytes() + b"".join(second_tags))
    return out


def test_new_parameter_sets_from_side_data_go_in_front_of_later_keyframes(tmp_path):
    big = make_clip(tmp_path / "big.flv", seconds=2, size="320x240", preset="veryfast")
    small = make_clip(tmp_path / "small.flv", seconds=2, size="160x120", preset="veryfast")
    source = splice_flv(big, small, tmp_path / "both.flv", shift_ms=2200)  # past the first clip's audio
    events, _ = package(source, tmp_path / "out")
    files = segment_files(tmp_path / "out", events)
    assert len(files) == 2
    for path, size in zip(files, [(320, 240), (160, 120)]):
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        assert frames[0].key_frame and len(frames) == 50
        assert {(f.width, f.height) for f in frames} == {size}
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", str(path)], capture_output=True, text=True, check=True
        )
        assert probe.stderr == "", probe.stderr


@pytest.mark.parametrize("video", [True, False])
def test_a_follower_continues_the_playlist_after_a_discontinuity(tmp_path, video):
    source = make_clip(tmp_path / "clip.flv", seconds=5, size="160x120", video=video)
    events: list[dict] = []
    first = TsRendition(tmp_path / "out", "origin", events.append)
    rendition = first
    with av.open(str(source)) as container:
        indexes = {s.index: rendition.add_stream(s) for s in container.streams}
        keyframes = 0  # video: 1 s GOPs, segments flagged at GOPs 0, 2, 3, 4
        for packet in container.demux():
            if packet.dts is None:
                continue
            t = float(packet.pts * packet.time_base)
            key = packet.stream.type == "video" and packet.is_keyframe
            keyframes += key
            if rendition is first and (keyframes == 4 if video else t >= 3):
                # Another publisher: the same streams, a new rendition continuing the playlist.
                rendition.close(endlist=False)
                rendition = TsRendition(tmp_path / "out", "origin", events.append, follows=first)
                indexes = {s.index: rendition.add_stream(s) for s in container.streams}
            start = key and keyframes in (1, 3, 4, 5)
            rendition.mux(indexes[packet.stream_index], packet, segment_start=start)
    rendition.close(endlist=True)
    playlist = parse_media_playlist((tmp_path / "out/origin/mpegts.m3u8").read_text())
    names = [name for name, _, _ in playlist["segments"]]
    assert names == [f"ts_{n}.ts" for n in range(len(names))] and len(names) >= 3
    marked = [name for name, _, discontinuity in playlist["segments"] if discontinuity]
    first_after = next(
        e["path"] for e in events if e["event"] == "ts_segment" and e["sequence"] == first._next_sequence
    )
    assert marked == [first_after.split("/")[1]] and playlist["endlist"]


def test_an_audio_codec_the_muxer_does_not_write_is_left_out(tmp_path, caplog):
    source = tmp_path / "ac3.mkv"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "ac3",
            str(source),
        ],
        check=True,
    )
    with caplog.at_level("WARNING", logger="packager.ts_output"):
        events, _ = package(source, tmp_path / "out")
    assert "leaves out the audio stream (ac3)" in caplog.text
    files = segment_files(tmp_path / "out", events)
    with av.open(str(files[0])) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert next(container.decode(video=0)).key_frame
