"""Live delivery from memory: playlists, media, LL-HLS blocking reload, DASH growing segments.

The worker's events are applied by hand here, exactly as the supervisor applies them; the
end-to-end tests in tests/e2e drive the same code with a real publisher. Every test runs
twice: through the ASGI app alone, and through a real uvicorn server on 127.0.0.1 with the
node's protocol, which answers most of these requests itself (`live_wire`).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from server.delivery.live_http import LiveFirst, LiveHttp
from server.delivery.live_state import LiveStream
from tests.support.live_server import serve_live
from tests.support.worker_events import worker_event


def playlist_text(msn: int, part: int) -> str:
    """A media playlist as far as part `part` of segment `msn`: the segments before it
    complete, as the packager lists them."""
    complete = "".join(f"#EXTINF:1.0,\nseg_{n}.m4s\n" for n in range(msn))
    return f"#EXTM3U\n#EXT-X-VERSION:9\n{complete}# msn={msn} part={part}\n"


async def not_found_app(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def live(tmp_path) -> LiveStream:
    return LiveStream(7, tmp_path, asyncio.get_running_loop())


@pytest.fixture(params=["asgi", "wire"])
async def client(request, live):
    app = LiveHttp(lambda i: live if i == 7 else None, segment_target=1.0, part_target=0.2)
    asgi = LiveFirst(not_found_app, app)
    if request.param == "asgi":
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://node") as c:
            yield c
        return
    async with serve_live(asgi) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        yield c


def publish_part(live: LiveStream, msn: int, part: int, data: bytes = b"") -> None:
    """As the worker does: the part's bytes appended to its segment's file, then announced."""
    path, file = f"origin/seg_{msn}.{part}.m4s", f"origin/seg_{msn}.m4s"
    (live.directory / "origin").mkdir(exist_ok=True)
    data = data or f"part {msn}.{part};".encode()
    with open(live.directory / file, "ab") as segment:
        offset = segment.tell()
        segment.write(data)
    live.apply(
        worker_event(
            {
                "event": "part",
                "rendition": "origin",
                "msn": msn,
                "part": part,
                "path": path,
                "duration": 0.2,
                "independent": part == 0,
                "file": file,
                "offset": offset,
                "size": len(data),
            }
        )
    )
    live.apply(
        worker_event(
            {
                "event": "playlist",
                "rendition": "origin",
                "path": "origin/index.m3u8",
                "msn": msn,
                "part": part,
                "header": playlist_text(msn, part),
            }
        )
    )


def complete_segment(live: LiveStream, msn: int, parts: int) -> None:
    path = f"origin/seg_{msn}.m4s"
    assert len(live.ranges) >= parts  # the parts' bytes are already in the file
    live.apply(worker_event({"event": "segment", "rendition": "origin", "msn": msn, "path": path, "duration": 1.0}))


async def test_unknown_stream_and_bad_paths_are_404(client, live):
    assert (await client.get("/live/8/master.m3u8")).status_code == 404
    assert (await client.get("/live/7/master.m3u8")).status_code == 404  # not written yet
    assert (await client.get("/live/7/%2e%2e/%2e%2e/etc/passwd")).status_code == 404
    assert (await client.get("/live/7/origin/sub/x.m4s")).status_code == 404
    assert (await client.get("/streaming/streams")).status_code == 418  # not ours: main app
    assert (await client.get("/live/x/master.m3u8")).status_code == 404


async def test_playlist_from_memory_with_headers(client, live):
    live.apply(worker_event({"event": "master", "path": "master.m3u8", "text": "#EXTM3U\n"}))
    response = await client.get("/live/7/master.m3u8")
    assert response.status_code == 200 and response.text == "#EXTM3U\n"
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = await client.options("/live/7/master.m3u8")
    assert preflight.status_code == 204 and "GET" in preflight.headers["access-control-allow-methods"]


async def test_media_served_and_forgotten_when_removed(client, live):
    publish_part(live, 0, 0, b"abc")
    response = await client.get("/live/7/origin/seg_0.0.m4s")
    assert response.content == b"abc" and "immutable" in response.headers["cache-control"]
    assert response.headers["content-type"] == "video/iso.segment"
    live.apply(worker_event({"event": "removed", "paths": ["origin/seg_0.0.m4s"]}))
    assert (await client.get("/live/7/origin/seg_0.0.m4s")).status_code == 404


async def test_blocking_reload_waits_for_the_part(client, live):
    publish_part(live, 3, 0)
    request = asyncio.create_task(client.get("/live/7/origin/index.m3u8?_HLS_msn=3&_HLS_part=2"))
    await asyncio.sleep(0.05)
    assert not request.done()
    publish_part(live, 3, 1)
    await asyncio.sleep(0.05)
    assert not request.done()
    publish_part(live, 3, 2)
    response = await asyncio.wait_for(request, 2)
    assert response.status_code == 200 and "msn=3 part=2" in response.text


async def test_blocking_reload_for_a_part_past_the_segment_end(client, live):
    publish_part(live, 3, 0)
    request = asyncio.create_task(client.get("/live/7/origin/index.m3u8?_HLS_msn=3&_HLS_part=5"))
    await asyncio.sleep(0.05)
    publish_part(live, 4, 0)  # segment 3 ended after one part: the next part satisfies
    assert "msn=4 part=0" in (await asyncio.wait_for(request, 2)).text


async def test_blocking_reload_answers_at_once_when_already_there(client, live):
    publish_part(live, 5, 1)
    response = await asyncio.wait_for(client.get("/live/7/origin/index.m3u8?_HLS_msn=4&_HLS_part=0"), 1)
    assert response.status_code == 200


async def test_blocking_reload_errors(client, live):
    publish_part(live, 2, 0)
    base = "/live/7/origin/index.m3u8"
    assert (await client.get(f"{base}?_HLS_part=1")).status_code == 400
    assert (await client.get(f"{base}?_HLS_msn=abc")).status_code == 400
    assert (await client.get(f"{base}?_HLS_msn=5&_HLS_part=0")).status_code == 400  # > 2 ahead
    timed_out = await client.get(f"{base}?_HLS_msn=4&_HLS_part=0")  # never arrives: 3x target
    assert timed_out.status_code == 503


async def test_msn_only_waits_for_the_whole_segment(client, live):
    publish_part(live, 1, 0)
    request = asyncio.create_task(client.get("/live/7/origin/index.m3u8?_HLS_msn=1"))
    publish_part(live, 1, 1)
    await asyncio.sleep(0.05)
    assert not request.done()
    complete_segment(live, 1, 2)
    assert (await asyncio.wait_for(request, 2)).status_code == 200


async def test_preload_hint_part_is_held_until_written(client, live):
    publish_part(live, 0, 0)
    request = asyncio.create_task(client.get("/live/7/origin/seg_0.1.m4s"))
    await asyncio.sleep(0.05)
    assert not request.done()
    publish_part(live, 0, 1, b"late part")
    assert (await asyncio.wait_for(request, 2)).content == b"late part"


async def test_growing_segment_streams_parts_until_complete(client, live):
    publish_part(live, 0, 0, b"AA")
    request = asyncio.create_task(client.get("/live/7/origin/seg_0.m4s"))
    await asyncio.sleep(0.05)
    publish_part(live, 0, 1, b"BB")
    await asyncio.sleep(0.05)
    publish_part(live, 0, 2, b"CC")
    complete_segment(live, 0, 3)
    response = await asyncio.wait_for(request, 2)
    assert response.content == b"AABBCC"
    again = await client.get("/live/7/origin/seg_0.m4s")  # now a plain file
    assert again.content == b"AABBCC" and again.headers["content-length"] == "6"


async def test_ended_stream_answers_its_waiters_with_the_final_playlist(client, live):
    """A reload blocked past the end gets the final playlist (ENDLIST), as does one that
    arrives after the end: each track of a player reads that the broadcast ended."""
    publish_part(live, 0, 0)
    request = asyncio.create_task(client.get("/live/7/origin/index.m3u8?_HLS_msn=1&_HLS_part=0"))
    await asyncio.sleep(0.05)
    final = playlist_text(0, 0) + "#EXT-X-ENDLIST\n"
    live.apply(
        worker_event(
            {
                "event": "playlist",
                "rendition": "origin",
                "path": "origin/index.m3u8",
                "msn": 0,
                "part": 0,
                "header": final,
            }
        )
    )
    live.apply(worker_event({"event": "ended"}))
    response = await asyncio.wait_for(request, 1)
    assert response.status_code == 200 and response.text == final
    late = await client.get("/live/7/origin/index.m3u8?_HLS_msn=1&_HLS_part=1")
    assert late.status_code == 200 and late.text == final
    unknown = await client.get("/live/7/other/index.m3u8?_HLS_msn=1&_HLS_part=0")
    assert unknown.status_code == 404


async def test_a_crashed_workers_waiters_are_answered_by_its_successor(client, live):
    """The worker died: its state is taken over, not ended. A blocked playlist request gets
    the next worker's playlist (numbered on, see packager/resume.py), a segment that was
    growing ends where it stopped, the old media stay served until retired."""
    publish_part(live, 3, 0, b"AA")
    publish_part(live, 3, 1, b"BB")
    reload = asyncio.create_task(client.get("/live/7/origin/index.m3u8?_HLS_msn=3&_HLS_part=2"))
    growing = asyncio.create_task(client.get("/live/7/origin/seg_3.m4s"))
    await asyncio.sleep(0.05)
    old = live.take_over()
    assert {"origin/seg_3.0.m4s", "origin/seg_3.1.m4s", "origin/seg_3.m4s"} <= old
    assert (await asyncio.wait_for(growing, 2)).content == b"AABB"
    await asyncio.sleep(0.05)
    assert not reload.done()  # no "ended": it waits for the next worker
    publish_part(live, 5, 0, b"new")
    response = await asyncio.wait_for(reload, 2)
    assert response.status_code == 200 and "msn=5 part=0" in response.text
    assert (await client.get("/live/7/origin/seg_3.1.m4s")).content == b"BB"


async def test_a_crashed_workers_media_are_retired_with_their_files(client, live):
    from server.media.succession import remove_media

    publish_part(live, 3, 0, b"AA")
    old = live.take_over()
    publish_part(live, 5, 0, b"new")
    await remove_media(live, old)
    assert (await client.get("/live/7/origin/seg_3.0.m4s")).status_code == 404
    assert not (live.directory / "origin" / "seg_3.m4s").exists()
    assert (await client.get("/live/7/origin/seg_5.0.m4s")).content == b"new"


async def test_an_ended_stream_taken_over_serves_the_new_workers_playlists_only(client, live):
    """A new session within the ended stream's grace: players loading it now do not read its
    end; they wait (404, the built-in player retries) for the new worker's live playlists."""
    publish_part(live, 3, 0, b"AA")
    live.apply(worker_event({"event": "master", "path": "master.m3u8", "text": "#EXTM3U\n"}))
    live.apply(worker_event({"event": "ended"}))
    assert (await client.get("/live/7/origin/index.m3u8")).status_code == 200
    live.take_over()
    assert (await client.get("/live/7/master.m3u8")).status_code == 404
    assert (await client.get("/live/7/origin/index.m3u8")).status_code == 404
    assert (await client.get("/live/7/origin/seg_3.0.m4s")).content == b"AA"
    reload = asyncio.create_task(client.get("/live/7/origin/index.m3u8?_HLS_msn=5&_HLS_part=0"))
    await asyncio.sleep(0.05)
    publish_part(live, 5, 0, b"new")
    response = await asyncio.wait_for(reload, 2)
    assert response.status_code == 200 and "msn=5 part=0" in response.text


def publish_dvr_playlist(live: LiveStream, msn: int, *, fresh: bool = False) -> None:
    """A DVR playlist's update as the worker sends it: segments up to `msn - 1` settled (one
    entry per update after the first), the tail naming `msn`."""
    first = 0 if fresh else msn - 1
    entries = [
        [
            n,
            2.0,
            False,
            "init.mp4",
            f"#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:{n:02}.000Z\n#EXTINF:2.0,\nseg_{n}.m4s\n",
        ]
        for n in range(first, msn)
    ]
    header = (
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n"
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0\n#EXT-X-MEDIA-SEQUENCE:0\n"
    )
    live.apply(
        worker_event(
            {
                "event": "playlist",
                "rendition": "origin",
                "path": "origin/index.m3u8",
                "msn": msn,
                "part": 0,
                "header": header,
                "first_msn": 0,
                "entries": entries,
                "tail": f"# tail msn={msn}\n",
                "tail_duration": 0.0,
                "can_skip_until": 12.0,
                "fresh": fresh,
            }
        )
    )


async def test_delta_updates_skip_the_old_segments_also_on_a_blocking_reload(client, live):
    """_HLS_skip=YES (RFC 8216bis 6.2.5.1): EXT-X-SKIP for all but the last 12 s, the map stated
    again; with _HLS_msn the delta answers the blocked request; without CAN-SKIP-UNTIL
    reached, the full playlist."""
    publish_dvr_playlist(live, 20, fresh=True)
    full = await client.get("/live/7/origin/index.m3u8")
    assert full.text.count("#EXTINF") == 20 and "EXT-X-SKIP" not in full.text
    delta = await client.get("/live/7/origin/index.m3u8?_HLS_skip=YES")
    assert delta.status_code == 200 and delta.headers["content-type"] == "application/vnd.apple.mpegurl"
    lines = delta.text.splitlines()
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=14" in lines and lines.count("#EXTINF:2.0,") == 6
    assert lines[lines.index("#EXT-X-SKIP:SKIPPED-SEGMENTS=14") + 1] == '#EXT-X-MAP:URI="init.mp4"'
    assert "seg_14.m4s" in lines and "seg_13.m4s" not in lines
    assert (await client.get("/live/7/origin/index.m3u8?_HLS_skip=v2")).text == delta.text

    blocked = asyncio.create_task(client.get("/live/7/origin/index.m3u8?_HLS_msn=21&_HLS_part=0&_HLS_skip=YES"))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    publish_dvr_playlist(live, 21)
    answer = await asyncio.wait_for(blocked, 2)
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=15" in answer.text and "# tail msn=21" in answer.text
    assert answer.headers["cache-control"] == "public, max-age=60"

    publish_dvr_playlist(live, 5, fresh=True)  # a new worker: 10 s listed, nothing to skip
    short = await client.get("/live/7/origin/index.m3u8?_HLS_skip=YES")
    assert "EXT-X-SKIP" not in short.text and short.text.count("#EXTINF") == 5


async def test_a_long_whole_playlist_is_gzipped_for_a_client_that_accepts_it(client, live):
    """A 4-hour playlist is ~470 KB: gzipped when asked (browsers always ask), with Vary for
    caches; a delta update and short playlists are sent as they are."""
    publish_dvr_playlist(live, 2000, fresh=True)  # ~120 KB
    plain = await client.get("/live/7/origin/index.m3u8", headers={"Accept-Encoding": "identity"})
    zipped = await client.get("/live/7/origin/index.m3u8", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "accept-encoding"
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["vary"] == "accept-encoding"
    assert zipped.text == plain.text and plain.text.count("#EXTINF") == 2000
    assert int(zipped.headers["content-length"]) * 5 < int(plain.headers["content-length"])
    delta = await client.get("/live/7/origin/index.m3u8?_HLS_skip=YES", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in delta.headers and "EXT-X-SKIP" in delta.text
    live.apply(worker_event({"event": "master", "path": "master.m3u8", "text": "#EXTM3U\n"}))
    master = await client.get("/live/7/master.m3u8", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in master.headers and "vary" not in master.headers
