"""Glass-to-fetchable latency: Headwater LL-HLS vs nginx-rtmp HLS, same frames, same run.

One publisher pushes numbered frames (bench/framecode.py) to both servers at once. For
Headwater a client does what hls.js does in low-latency mode: a blocking playlist reload
for the next part, then fetches the part. For nginx-rtmp a client polls the playlist every
100 ms and fetches each new fragment. Latency of a frame = when the piece holding it arrived −
when the frame left the publisher, over every frame (the first frame of a part waits for the
whole part to be cut: that wait is part of the latency a player sees).
Also reported: publish → first playable playlist, for both.

Then the live latency that players themselves report in Chromium (`tests/support/players`:
Shaka Player's `liveLatency`, hls.js's `latency`, dash.js's `getCurrentLiveLatency()`), for
Headwater's LL-HLS and DASH at each part duration asked for (`HEADWATER_PART_TARGET`), with
hls.js playing nginx-rtmp's HLS from the same publisher as the reference.

    python -m bench.latency [--seconds 40] [--player-seconds 20] [--parts 0.5 0.2] [--dvr 14400] [--smoke]

`--dvr N` gives the streams a DVR window of N seconds: the live edge should not notice.

`--smoke` runs both halves for a few seconds each (6 s frame-level, 2 s per player after 1 s
to settle, 0.5 s parts): the machinery end to end, no figure worth reading.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import httpx

from bench import smoke
from bench.framecode import read
from bench.nginx_rtmp import NginxRtmp
from bench.rtmp_publisher import NumberedPublisher
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.players import browser_play
from tests.support.publisher import ffmpeg_publish

PLAYERS = [
    ("Shaka, LL-HLS", "shaka", "hls_cmaf_url"),
    ("hls.js, LL-HLS", "hls.js", "hls_cmaf_url"),
    ("Shaka, DASH", "shaka", "dash_url"),
    ("dash.js, DASH", "dash.js", "dash_url"),
]


@dataclass(frozen=True)
class Pace:
    """The waits around each measurement, in seconds."""

    settle: float = 4.0  # playback before the reported latency counts (players catch up first)
    preroll: float = 4.0  # publishing before the first player starts
    tail: float = 5.0  # publishing after the frame-level run's last frame is measured


SMOKE = Pace(settle=1.0, preroll=2.0, tail=1.0)


def frame_times(data: bytes, decode: bool) -> list[tuple[float, int | None]]:
    """(pts in seconds, frame number or None) of each video frame in `data`.

    Only pieces that start with a keyframe can be decoded alone; for the others the frame
    numbers come from their timestamps (see FrameClock).
    """
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        if decode:
            return [(float(f.pts * f.time_base), read(f.to_ndarray(format="gray"))) for f in container.decode(stream)]
        return [(float(p.pts * p.time_base), None) for p in container.demux(stream) if p.size]


class FrameClock:
    """Maps output timestamps to publisher frame numbers, calibrated on decoded frames."""

    def __init__(self, fps: int) -> None:
        self.fps = fps
        self.offset: int | None = None

    def number(self, pts: float, decoded: int | None) -> int | None:
        if decoded is not None:
            self.offset = decoded - round(pts * self.fps)
            return decoded
        return None if self.offset is None else round(pts * self.fps) + self.offset


def record(out: dict, publisher: NumberedPublisher, clock: FrameClock, arrived: float, frames) -> None:
    """One latency per frame: when the piece holding it arrived − when the frame left."""
    for pts, decoded in frames:
        number = clock.number(pts, decoded)
        if number in publisher.sent_at:
            out["latencies"].append(arrived - publisher.sent_at[number])


async def follow_ll_hls(
    base: str, publisher: NumberedPublisher, until: float, out: dict, follow_redirects: bool = False
) -> None:
    """Blocking reload for the next part, fetch it, measure — the LL-HLS player loop.
    `follow_redirects`: as a player does (a node that redirects to the stream's owner)."""
    clock = FrameClock(publisher.fps)
    async with httpx.AsyncClient(timeout=10, follow_redirects=follow_redirects) as http:
        while (response := await http.get(f"{base}/origin/index.m3u8")).status_code != 200:  # noqa: ASYNC110 - polls the node
            await asyncio.sleep(0.05)
        out["first_playlist"] = time.monotonic() - publisher.started_at
        init = (await http.get(f"{base}/origin/init.mp4")).content
        playlist = parse_media_playlist(response.text)
        done: set[str] = set()
        while time.monotonic() < until:
            msn = playlist.segments[-1].msn + 1 if playlist.segments else playlist.media_sequence
            params = {"_HLS_msn": msn, "_HLS_part": len(playlist.pending_parts)}
            response = await http.get(f"{base}/origin/index.m3u8", params=params)
            if response.status_code != 200:
                await asyncio.sleep(0.05)
                continue
            playlist = parse_media_playlist(response.text)
            parts = [p for s in playlist.segments[-2:] for p in s.parts] + playlist.pending_parts
            for part in parts:
                if part.uri in done:
                    continue
                done.add(part.uri)
                data = (await http.get(f"{base}/origin/{part.uri}")).content
                arrived = time.monotonic()
                if done and len(done) > 1:  # parts listed in the first playlist predate the loop
                    record(out, publisher, clock, arrived, frame_times(init + data, part.independent))
                elif part.independent:
                    clock.number(*frame_times(init + data, True)[0])
        out["pieces"] = len(done)


async def follow_nginx(url: str, publisher: NumberedPublisher, until: float, out: dict) -> None:
    """Poll the playlist every 100 ms and fetch each new fragment, as an HLS player does."""
    clock = FrameClock(publisher.fps)
    async with httpx.AsyncClient(timeout=10) as http:
        done: set[str] = set()
        while time.monotonic() < until:
            response = await http.get(url)
            if response.status_code == 200:
                out.setdefault("first_playlist", time.monotonic() - publisher.started_at)
                for segment in parse_media_playlist(response.text).segments:
                    if segment.uri in done:
                        continue
                    done.add(segment.uri)
                    data = (await http.get(url.rsplit("/", 1)[0] + "/" + segment.uri)).content
                    if len(done) > 1:  # the first one predates polling
                        record(out, publisher, clock, time.monotonic(), frame_times(data, True))
            await asyncio.sleep(0.1)
        out["pieces"] = len(done)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def print_added_latency(names: Iterable[str], results: list[dict], width: int) -> None:
    """Each client's latency and what its path adds at p95 over the first (direct) client."""
    direct = results[0]["latencies"]
    for name, out in zip(names, results, strict=True):
        values = out["latencies"]
        if not values or not direct:
            print(f"{name:>{width}}: {out.get('pieces', 0)} parts, no frame measured")
            continue
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        reference = percentile(direct, 0.95)
        print(
            f"{name:>{width}}: {out['pieces']} parts, {len(values)} frames; latency p50 {p50:.3f} s, "
            f"p95 {p95:.3f} s; p95 added {(p95 - reference) * 1000:+.0f} ms, ratio {smoke.ratio(p95, reference):.3f}"
        )


def report(name: str, out: dict) -> None:
    values = out["latencies"]
    if not values:
        print(
            f"{name:>22}: first playlist {out.get('first_playlist', float('nan')):5.2f} s after publish; "
            f"{out.get('pieces', 0)} pieces, no frame measured"
        )
        return
    print(
        f"{name:>22}: first playlist {out.get('first_playlist', float('nan')):5.2f} s after publish; "
        f"{out['pieces']} pieces, {len(values)} frames; latency p50 {statistics.median(values):.3f} s, "
        f"p95 {percentile(values, 0.95):.3f} s, max {max(values):.3f} s"
    )


async def main(
    seconds: float, player_seconds: float, parts: list[float], pace: Pace = Pace(), dvr: int | None = None
) -> None:
    """`dvr`: the streams have a DVR window of that many seconds (the live edge must not care)."""
    fields = {"dvr_enabled": True, "dvr_duration": dvr} if dvr else {}
    if dvr:
        print(f"DVR on: a {dvr} s window")
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as work:
        if seconds > 0:
            await run(Path(work), seconds, pace.tail, fields)
        if player_seconds > 0:
            await asyncio.to_thread(players_report, Path(work), player_seconds, parts, pace, fields)


def players_report(work: Path, seconds: float, parts: list[float], pace: Pace, fields: dict | None = None) -> None:
    """What players report as their live latency: each engine on Headwater at each part
    duration, and hls.js on nginx-rtmp's HLS fed by the same publisher (the reference)."""
    print(
        f"\nLive latency the players report ({seconds:.0f} s each after {pace.settle:.0f} s to settle; "
        "640x360 25 fps, 1 s GOP; median and max of their figure every 0.5 s)"
    )
    reference = None
    for part in parts:
        node = Node(work / f"players-{part}", env={"HEADWATER_PART_TARGET": str(part)}).start()
        nginx = NginxRtmp().start()
        try:
            stream = httpx.post(
                f"{node.base_url}/streaming/streams",
                headers=node.headers,
                json={"name": "player latency", **(fields or {})},
            ).json()
            both = f"[f=flv]{stream['push_url']}|[f=flv]rtmp://127.0.0.1:{nginx.rtmp_port}/in/bench"
            # Through `tee`, x264 puts SPS/PPS in the FLV sequence header only with +global_header;
            # without them nginx-rtmp's HLS fails ("error appenging SPS/PPS NALs") and drops the publisher.
            publisher = ffmpeg_publish(
                both,
                seconds=len(PLAYERS) * (seconds + 20) + 60,
                size="640x360",
                gop=25,
                extra=["-map", "0:v", "-map", "1:a", "-flags", "+global_header"],
                container="tee",
            )
            try:
                time.sleep(pace.preroll)
                for name, engine, field in PLAYERS:
                    print_player(
                        f"Headwater {name}, parts {part} s",
                        browser_play(engine, stream[field], seconds + pace.settle),
                        pace.settle,
                    )
                if reference is None:
                    wait_for_playlist(nginx.url("hls/bench.m3u8"))
                    reference = browser_play("hls.js", nginx.url("hls/bench.m3u8"), seconds + pace.settle, timeout=40)
                    print_player("nginx-rtmp HLS, hls.js (ref)", reference, pace.settle)
            finally:
                publisher.kill()
                publisher.wait()
        finally:
            nginx.stop()
            node.stop()
    if reference is not None and settled(reference, pace.settle):
        median = statistics.median(settled(reference, pace.settle))
        print(f"(ratios are against the reference's median, {median:.2f} s; goal: <= 1.5 s with 0.5 s parts)")


def wait_for_playlist(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and httpx.get(url).status_code != 200:
        time.sleep(0.2)


def settled(playback, settle: float) -> list[float]:
    return playback.latencies[int(settle / 0.5) :]


def print_player(name: str, playback, settle: float) -> None:
    values = settled(playback, settle)
    if not values:
        print(f"{name:>40}: no latency reported; errors {playback.end['errors']}")
        return
    print(
        f"{name:>40}: median {statistics.median(values):.2f} s, max {max(values):.2f} s, "
        f"played {playback.played:.1f} s, errors {playback.end['errors'] or 'none'}"
    )


async def run(work: Path, seconds: float, tail: float, fields: dict | None = None) -> None:
    node = Node(work / "node").start()
    nginx = NginxRtmp().start()
    try:
        created = await asyncio.to_thread(
            httpx.post,
            f"{node.base_url}/streaming/streams",
            headers=node.headers,
            json={"name": "latency", **(fields or {})},
        )
        stream = created.json()
        publisher = NumberedPublisher(
            [stream["push_url"], f"rtmp://127.0.0.1:{nginx.rtmp_port}/in/bench"], seconds=seconds + tail
        )
        publisher.start()
        while publisher.started_at is None:  # noqa: ASYNC110 - set by the publisher's thread
            await asyncio.sleep(0.01)
        until = publisher.started_at + seconds
        ours, theirs = {"latencies": []}, {"latencies": []}
        await asyncio.gather(
            follow_ll_hls(f"{node.base_url}/live/{stream['id']}", publisher, until, ours),
            follow_nginx(nginx.url("hls/bench.m3u8"), publisher, until, theirs),
        )
        publisher.join()
        print(f"{seconds:.0f} s of 640x360 25 fps, 2 s GOP; Headwater parts 0.5 s; nginx-rtmp fragments 2 s")
        report("Headwater LL-HLS", ours)
        report("nginx-rtmp HLS (ref)", theirs)
        if not (ours["latencies"] and theirs["latencies"]):
            print("p95 ratio Headwater / nginx-rtmp: not measured (no frames on one side)")
            return
        ratio = percentile(ours["latencies"], 0.95) / percentile(theirs["latencies"], 0.95)
        print(f"p95 ratio Headwater / nginx-rtmp: {ratio:.2f}  (target: Headwater p95 <= 1.0 s)")
    finally:
        nginx.stop()
        node.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40, help="frame-level run (0: skip)")
    parser.add_argument("--player-seconds", type=float, default=20, help="each player's run (0: skip)")
    parser.add_argument("--parts", type=float, nargs="+", default=[0.5, 0.2], help="part durations (s)")
    parser.add_argument("--dvr", type=int, default=None, help="streams with a DVR window of this many seconds")
    smoke.add_flag(parser)
    arguments = parser.parse_args()
    if arguments.smoke:
        asyncio.run(main(6, 2, [0.5], SMOKE, arguments.dvr))
    else:
        asyncio.run(main(arguments.seconds, arguments.player_seconds, arguments.parts, dvr=arguments.dvr))
