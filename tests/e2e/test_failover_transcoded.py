"""Failover on a transcoded stream: the renditions keep playing through a main → backup switch.

The transcoder then decodes a new source (other size, other clock, other time base: RTMP's
1/1000 vs SRT's 1/90000) while its encoders go on, so the rendition's timeline must keep rising
across the switch and its size must stay what it was.
"""

from __future__ import annotations

import io

import av

from tests.e2e.conftest import fetch_ok, wait_for
from tests.e2e.media_check import segment_maps
from tests.e2e.test_backup_failover import BACKUP_SIZE, MAIN_SIZE, SWITCH_WITHIN, PlaylistWatch
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.publisher import ffmpeg_publish
from tests.support.quality_sets import add_live_quality_set

RUNG = ("160p", 284, 160, 150)


def rendition_runs(http, stream_id: int, name: str):
    """(discontinuity flags of the listed segments, [(init, frames)] per run of segments that
    share an init segment), frames as (pts s, width, height). Each run is decoded as one file,
    as a player appends it: a segment of a few frames decoded alone (one cut short by the
    switch) has FFmpeg apply the init's edit list to it differently, 80 ms off."""
    text = http.get(f"/live/{stream_id}/{name}/index.m3u8").text
    maps = segment_maps(text)
    segments = parse_media_playlist(text).segments
    runs: list[tuple[str, bytes]] = []
    for segment in segments:
        media = http.get(f"/live/{stream_id}/{name}/{segment.uri}").content
        if runs and runs[-1][0] == maps[segment.uri]:
            runs[-1] = (runs[-1][0], runs[-1][1] + media)
        else:
            init = http.get(f"/live/{stream_id}/{name}/{maps[segment.uri]}").content
            runs.append((maps[segment.uri], init + media))
    decoded = []
    for init, data in runs:
        with av.open(io.BytesIO(data)) as container:
            decoded.append((init, [(float(f.pts * f.time_base), f.width, f.height) for f in container.decode(video=0)]))
    return [segment.discontinuity for segment in segments], decoded


def test_renditions_play_on_across_a_failover(media_node, http, new_stream):
    set_id = add_live_quality_set(media_node, "failover ladder", [RUNG])
    stream = new_stream(quality_set_id=set_id)
    stream_id = stream["id"]
    watch = PlaylistWatch(http, stream_id)
    main = ffmpeg_publish(stream["push_url"], seconds=120, size="320x240")
    backup = None
    try:
        # The backup joins once main feeds the worker: a backup first on air would start the
        # worker itself, and the ladder would follow its shape (as it should), not main's.
        watch.wait_for_size(MAIN_SIZE, timeout=20)
        backup = ffmpeg_publish(
            stream["backup_push_url_srt"], seconds=120, size="352x288", pattern="testsrc", container="mpegts"
        )
        master = wait_for(lambda: fetch_ok(http, f"/live/{stream_id}/master.m3u8"), what="master playlist")
        variants, _ = parse_master_playlist(master.text)
        assert [v.uri for v in variants] == ["origin/index.m3u8", "160p/index.m3u8"]
        wait_for(lambda: http.get(f"/streaming/streams/{stream_id}").json()["backup_live"], what="backup_live")
        main.kill()
        main.wait()
        watch.wait_for_size(BACKUP_SIZE, timeout=SWITCH_WITHIN)

        def switched_and_two_more():
            flags, runs = rendition_runs(http, stream_id, RUNG[0])
            return runs if True in flags and len(flags) - flags.index(True) >= 2 else None

        runs = wait_for(switched_and_two_more, timeout=20, interval=0.5, what="two 160p segments after the switch")
        status = http.get(f"/streaming/streams/{stream_id}").json()
    finally:
        for publisher in (main, backup):
            if publisher is not None:
                publisher.kill()
                publisher.wait()
    # The rung's height, the width from the first source's 4:3, kept for the backup's source too.
    frames = [frame for _, run in runs for frame in run]
    assert len(runs) >= 2, runs  # the switch began a new init segment
    assert all((width, height) == (214, 160) for _, width, height in frames), frames
    times = [t for t, *_ in frames]
    for last, first in zip(times, times[1:]):
        assert first > last, f"160p timeline went back: {last:.3f} then {first:.3f}"
    assert status["transcoded_qualities"] == ["origin", "160p"] and status["stream_source_type"] == "srt"
    assert "worker failed" not in media_node.log()
