"""The recorder: a real packager run's events replayed into it, the recordings read back."""

import io
import shutil

import av
import pytest

from packager.live import LiveOutput, PackagerConfig
from packager.recorder import Recorder
from packager.recording_layout import read_recording
from tests.packager.packager_testkit import package


@pytest.fixture(scope="module")
def live_run(clip_1s_gop, tmp_path_factory):
    """6 s, a segment per second (window large enough that nothing is deleted)."""
    return package(clip_1s_gop, tmp_path_factory.mktemp("live"), segment_target=1.0, window_segments=100)


def replay(run, recorder, commands=None):
    """Feed the run's events; `commands[i]()` runs before event i (a command between packets)."""
    commands = commands or {}
    for number, event in enumerate(run.events):
        if number in commands:
            commands[number]()
        recorder.observe(event)


def make_recorder(run, events):
    return Recorder(run.out_dir, run=lambda job: job(), emit=events.append)


def recorded_bytes(recording, track):
    return b"".join((recording.directory / s.file).read_bytes() for s in recording.tracks[track])


def live_bytes(run, rendition, msns):
    segments = {e["msn"]: e for e in run.of("segment", rendition)}
    return b"".join((run.out_dir / segments[m]["path"]).read_bytes() for m in msns)


def test_a_recording_from_the_start_holds_every_live_segment_byte_for_byte(live_run, tmp_path):
    events = []
    recorder = make_recorder(live_run, events)
    recorder.start("k", tmp_path / "k")
    replay(live_run, recorder)
    recording = read_recording(tmp_path / "k")
    msns = [e["msn"] for e in live_run.of("segment", "origin")]
    assert [s.ticks for s in recording.tracks["video"]] == [e["ticks"] for e in live_run.of("segment", "origin")]
    assert recorded_bytes(recording, "video") == live_bytes(live_run, "origin", msns)
    assert recorded_bytes(recording, "audio") == live_bytes(live_run, "audio", msns)
    assert (tmp_path / "k/video/init_0.mp4").read_bytes() == (live_run.out_dir / "origin/init.mp4").read_bytes()
    assert not any(s.discontinuity for s in recording.tracks["video"])
    # the worker ended without a stop: synced, not stopped (the node decides after its grace)
    assert [e["event"] for e in events if e["event"] != "recording_progress"] == []
    assert events[-1]["duration"] == pytest.approx(recording.duration, abs=0.01)


def test_start_waits_for_the_next_segment_and_stop_ends_with_the_one_being_written(live_run, tmp_path):
    events = []
    recorder = make_recorder(live_run, events)
    parts = [i for i, e in enumerate(live_run.events) if e["event"] == "part" and e["rendition"] == "origin"]
    start_at, stop_at = parts[5], parts[-8]  # mid-segment both
    msn_at_start = max(e["msn"] for e in live_run.events[:start_at] if e["event"] == "part")
    msn_at_stop = max(e["msn"] for e in live_run.events[:stop_at] if e["event"] == "part")
    replay(
        live_run,
        recorder,
        {start_at: lambda: recorder.start("k", tmp_path / "k"), stop_at: lambda: recorder.stop("k")},
    )
    recording = read_recording(tmp_path / "k")
    msns = list(range(msn_at_start + 1, msn_at_stop + 1))
    assert len(recording.tracks["video"]) == len(msns)
    assert recorded_bytes(recording, "video") == live_bytes(live_run, "origin", msns)
    assert recorded_bytes(recording, "audio") == live_bytes(live_run, "audio", msns)
    assert events[-1] == {"event": "recording_stopped", "key": "k", "duration": pytest.approx(recording.duration)}


def test_a_split_continues_into_the_next_recording_at_a_segment_boundary(live_run, tmp_path):
    events = []
    recorder = make_recorder(live_run, events)
    recorder.start("k", tmp_path / "k", split_seconds=2.0)
    replay(live_run, recorder)
    splits = [e for e in events if e["event"] == "recording_split"]
    assert len(splits) == 2 and splits[0]["key"] == "k" and splits[1]["key"] == splits[0]["next_key"]
    keys = ["k", splits[0]["next_key"], splits[1]["next_key"]]
    recordings = [read_recording(tmp_path / key) for key in keys]
    assert all(r.duration >= 2.0 for r in recordings[:2])
    msns = [e["msn"] for e in live_run.of("segment", "origin")]
    for track, rendition in (("video", "origin"), ("audio", "audio")):
        joined = b"".join(recorded_bytes(r, track) for r in recordings)
        assert joined == live_bytes(live_run, rendition, msns)  # nothing lost or repeated at the seams
    stopped = [e["key"] for e in events if e["event"] == "recording_stopped"]
    assert stopped == keys[:2]  # the last one waits for the node


def test_a_continued_recording_numbers_on_and_marks_a_discontinuity(live_run, tmp_path):
    for continues in (False, True):
        recorder = make_recorder(live_run, [])
        recorder.start("k", tmp_path / "k", continues=continues)
        replay(live_run, recorder)
    recording = read_recording(tmp_path / "k")
    count = len(live_run.of("segment", "origin"))
    assert len(recording.tracks["video"]) == 2 * count
    assert [s.discontinuity for s in recording.tracks["video"]].count(True) == 1
    assert recording.tracks["video"][count].discontinuity
    assert recording.tracks["video"][count].init == "video/init_1.mp4"


def test_a_write_error_fails_the_recording_only(live_run, tmp_path):
    events = []
    recorder = make_recorder(live_run, events)
    recorder.start("k", tmp_path / "k")

    def break_the_disk():  # the next segment file cannot be made
        shutil.rmtree(tmp_path / "k/video")
        (tmp_path / "k/video").write_bytes(b"")

    replay(live_run, recorder, {len(live_run.events) // 2: break_the_disk})
    failed = [e for e in events if e["event"] == "recording_failed"]
    assert len(failed) == 1 and failed[0]["key"] == "k" and "recording write failed" in failed[0]["message"]
    assert not recorder.recordings
    assert [e for e in events if e["event"] == "recording_stopped"] == []


def test_a_fault_in_the_recorder_fails_its_recordings_not_the_stream(live_run, tmp_path):
    events = []
    recorder = make_recorder(live_run, events)
    recorder.start("k", tmp_path / "k")
    part = next(e for e in live_run.events if e["event"] == "part")
    recorder.observe(part)  # a part whose init was never announced: a broken event stream
    assert events == [{"event": "recording_failed", "key": "k", "message": "recorder error: 'origin'"}]
    assert not recorder.recordings


def test_a_source_switch_mid_recording_copies_the_new_init_and_marks_the_discontinuity(clip_1s_gop, tmp_path):
    """A main ↔ backup switch within a worker (`LiveOutput.discontinuity`): the same recording
    goes on with the new init segment, its first segment after the switch a discontinuity."""
    events = []
    output = LiveOutput(PackagerConfig(tmp_path / "live", segment_target=1.0, window_segments=100), events.append)
    recorder = Recorder(tmp_path / "live", run=lambda job: job(), emit=lambda event: None)
    recorder.start("k", tmp_path / "k")
    seen = 0
    tracks = {}
    for source in range(2):  # the same clip as two sources, one after the other
        with av.open(str(clip_1s_gop)) as container:
            if source == 0:
                for stream in container.streams:
                    add = output.add_video if stream.type == "video" else output.add_audio
                    tracks[stream.index] = add("origin", stream) if stream.type == "video" else add(stream)
            else:
                output.discontinuity({tracks[s.index]: s for s in container.streams})
            for packet in container.demux():
                if packet.size:
                    output.mux(tracks[packet.stream.index], packet)
                    for event in events[seen:]:
                        recorder.observe(event)
                    seen = len(events)
    output.close()
    for event in events[seen:]:
        recorder.observe(event)
    video = read_recording(tmp_path / "k").tracks["video"]
    switched = [number for number, segment in enumerate(video) if segment.discontinuity]
    assert len(switched) == 1 and 0 < switched[0] < len(video) - 1
    assert {s.init for s in video[: switched[0]]} == {"video/init_0.mp4"}
    assert {s.init for s in video[switched[0] :]} == {"video/init_1.mp4"}
    assert len(video) == len([e for e in events if e["event"] == "segment" and e["rendition"] == "origin"])


def test_a_stop_naming_a_recording_just_split_stops_the_one_it_goes_on_in(live_run, tmp_path):
    """The node sent the stop before it heard of the split."""
    events = []
    recorder = make_recorder(live_run, events)
    recorder.start("k", tmp_path / "k", split_seconds=2.0)
    stopped = []

    def stop_after_the_split(event):
        recorder.observe(event)
        if any(e["event"] == "recording_split" for e in events) and not stopped:
            stopped.append(True)
            recorder.stop("k")

    for event in live_run.events:
        stop_after_the_split(event)
    assert [e["event"] for e in events].count("recording_split") == 1
    assert [e["key"] for e in events if e["event"] == "recording_stopped"] == ["k", events[-1]["key"]]
    assert not recorder.recordings


def test_a_shed_rendition_s_recording_goes_on_from_the_next_one(clip_two_sizes, tmp_path):
    """`transcoded` records the top rendition; when the transcoder sheds it, the recording goes
    on from the rendition now on top, at its next segment, after a discontinuity (never two
    renditions' bytes in one file)."""
    events = []
    output = LiveOutput(PackagerConfig(tmp_path / "live", segment_target=1.0, window_segments=100), events.append)
    top = ["high"]
    recorder = Recorder(
        tmp_path / "live", run=lambda job: job(), emit=lambda event: None, video_rendition=lambda _type: top[0]
    )
    recorder.start("k", tmp_path / "k", record_type="transcoded")
    seen = 0
    with av.open(str(clip_two_sizes)) as container:
        big, small = container.streams.video
        tracks = {
            big.index: [output.add_video("origin", big), output.add_video("high", big)],
            small.index: [output.add_video("low", small)],
            container.streams.audio[0].index: [output.add_audio(container.streams.audio[0])],
        }
        packets = [p for p in container.demux() if p.size]
        for number, packet in enumerate(packets):
            if number == len(packets) // 2:
                output.retire_video(tracks[big.index][1])
                top[0] = "low"
            for track in tracks[packet.stream.index]:
                output.mux(track, packet)
            for event in events[seen:]:
                recorder.observe(event)
            seen = len(events)
    output.close()
    for event in events[seen:]:
        recorder.observe(event)
    video = read_recording(tmp_path / "k").tracks["video"]
    inits = [s.init for s in video]
    assert inits[0] == "video/init_0.mp4" and inits[-1] == "video/init_1.mp4"
    assert inits == sorted(inits)  # one switch
    assert [s.discontinuity for s in video].count(True) == 1
    directory = tmp_path / "k"
    for init in set(inits):  # each run decodes whole, at its own size
        run = [s for s in video if s.init == init]
        data = (directory / init).read_bytes() + b"".join((directory / s.file).read_bytes()[: s.size] for s in run)
        with av.open(io.BytesIO(data)) as decoded:
            sizes = {(f.width, f.height) for f in decoded.decode(video=0)}
        assert sizes == ({(320, 240)} if init == inits[0] else {(160, 120)})
