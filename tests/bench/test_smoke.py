"""Every benchmark under bench/ runs end to end in its smoke mode (`python -m bench.X --smoke`).

A benchmark nobody runs rots: bench/transcode_cost.py wrote raw FLV into a worker that had come
to read records, and nothing measured the transcoder until someone looked. Each smoke run is a
real run of the script as a subprocess, a few seconds long on tiny inputs (bench/smoke.py): it
must exit 0 and print every line of its report. The figures are not checked (too short to mean
anything, and wall-clock figures on a shared machine are noise); the reference halves (nginx-rtmp,
wrk, ffmpeg) run too, so a reference that stops working fails here as well.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# script: a pattern for each line of its report (re.MULTILINE). Where a script can print
# "skipped", "no frame measured" and the like instead of a figure, the pattern asks for the
# figure's place (not its value): that half did not run end to end.
NUMBER = r"-?(\d+\.?\d*|nan)"
REPORTS = {
    "wakeup_latency": [
        rf"^HttpServer ticks .*: median +{NUMBER} ms",
        rf"^HttpServer SIGTERM .*: median +{NUMBER} ms",
        rf"^SrtServer.close\(\), idle +: median +{NUMBER} ms",
        rf"^SrtServer.close\(\), one publisher sending +: median +{NUMBER} ms",
        rf"^SRT pull nobody answers .*: median +{NUMBER} ms",
    ],
    "webhook_drain": [
        r"^events: 300 queued over 10 streams \(SQLite\)",
        rf"^webhook drain : +{NUMBER} events/s \({NUMBER} s; received 300, out of order 0\)",
        rf"^plain client  : +{NUMBER} req/s",
        rf"^CPU per event : drain {NUMBER} µs, plain client {NUMBER} µs \(one free core: {NUMBER} events/s\)",
        rf"^ratio drain / 500/s bound: {NUMBER}",
        rf"^ratio drain / plain client: {NUMBER}",
    ],
    "wake_cost": [r"^job size +back to back", rf"^ +100 steps +{NUMBER} µs +{NUMBER} µs", r"^ +10000 steps"],
    "ts_packager": [
        r"^source: 720p30",
        rf"^plain PyAV remux to one \.ts : {NUMBER} CPU-s",
        rf"^TsRendition \(cut \+ playlist\): {NUMBER} CPU-s",
        r"^ratio TsRendition / plain remux",
    ],
    "packager_cost": [
        r"^clip: ",
        rf"^PyAV demux only +: {NUMBER}",
        rf"^demux \+ LiveOutput +: {NUMBER}",
        r"of which LiveOutput",
        rf"^ffmpeg -c copy -f hls fmp4: {NUMBER}",
        r"^ratio \(demux \+ LiveOutput\) / ffmpeg",
        r"^one stream at real time",
        rf"^\+ an unlisted copy of the video: {NUMBER} %",
        rf"^  the unlisted track +: {NUMBER} %",
    ],
    "transcode_cost": [
        rf"^  headwater: {NUMBER} CPU-s",
        rf"^  ffmpeg   : {NUMBER} CPU-s",
        r"^clip: 2 s 360p30",
        rf"^headwater: {NUMBER} CPU-s",
        rf"^ffmpeg   : {NUMBER} CPU-s",
        r"^ratio headwater / ffmpeg",
    ],
    "http_writes": [
        rf"^playlist \(.*two writes +{NUMBER} req/s, one write +{NUMBER} req/s",
        rf"^part +\(.*two writes +{NUMBER} req/s, one write +{NUMBER} req/s",
    ],
    "rtmp_ingest": [
        rf"^headwater RtmpServer \(uvloop, .*: +{NUMBER} % of a core",
        rf"^nginx-rtmp \(live on, no hls\): +{NUMBER} % of a core",
    ],
    "idle_node": [
        r"^pid \d+: idle node",
        r"whole process +\S+ % of a core",
        r"^pid \d+: reference: the same node without its SRT listener",
        r"^idle node / node without SRT",
    ],
    "transcode_realtime": [
        r"^abr_480p, x264 superfast, 8 s real-time 360p30 publish",
        r"^transcoding_speed: min",
        r"^transcoded_qualities: \{\('origin'",
        r"^shed: ",
    ],
    "stream_cost": [
        r"1/1 live",
        r"packaging, no viewers:",
        rf"Headwater \(node \+ workers.* {NUMBER} %",
        rf"nginx-rtmp \(hls on, 2 s fragments\), reference +{NUMBER} %",
        r"ratio Headwater / nginx-rtmp",
        r"one viewer per stream:",
        rf"an LL-HLS client .* {NUMBER} %",
        rf"a legacy HLS client .* {NUMBER} %",
        r"LL-HLS parts on time",
    ],
    "dvr": [
        r"^source: 320x180",
        rf"^filled: {NUMBER} s of window listed",
        rf"^memory dvr +: node +{NUMBER} MiB \+ worker +{NUMBER} MiB",
        rf"^memory plain: node +{NUMBER} MiB",
        rf"^memory DVR - without: \+?{NUMBER} MiB",
        rf"^cpu dvr  : node +{NUMBER} % \+ worker +{NUMBER} %",
        rf"^cpu plain: node +{NUMBER} % \+ worker +{NUMBER} %",
        rf"^  DVR off, playlist .*: +{NUMBER} req/s",
        rf"^  DVR delta blocking reload .*: +{NUMBER} req/s",
        rf"^  DVR whole playlist +\(.*: +{NUMBER} req/s",
        rf"^  DVR whole playlist, gzip .*: +{NUMBER} req/s",
        rf"^old DVR segment .*Headwater +{NUMBER} req/s, nginx static +{NUMBER} req/s",
    ],
    "delivery": [
        rf"^  playlist \(.*Headwater +{NUMBER} req/s, nginx static +{NUMBER} req/s",
        rf"^  part +\(.*Headwater +{NUMBER} req/s, nginx static +{NUMBER} req/s",
        r"clients \(reload, then fetch the part\)",
        r"clients \(reload and preload-hinted part together\)",
        r"playlist naming the part: after the first client median",
        r"part bytes +: after the first client median",
        r"read by the client +: after the first client median",
        r"parts missed by some client",
    ],
    "metrics_cost": [
        r"^delivery: wrk -t2 -c64, 1 rounds of 1 s per node in turns, metrics on",
        rf"^  playlist: metrics on +{NUMBER} req/s, off +{NUMBER} req/s .* CPU per request on {NUMBER} µs",
        rf"^  part    : metrics on +{NUMBER} req/s, off +{NUMBER} req/s",
        r"^stream cost: 1 passthrough streams",
        rf"^  no viewers +: metrics on +{NUMBER} %.*off +{NUMBER} %",
        rf"^  LL-HLS viewers: metrics on +{NUMBER} %, off +{NUMBER} %",
    ],
    "signed_delivery": [
        r"^delivery: wrk -t2 -c64, 1 rounds of 1 s per node in turns, signed and unsigned",
        rf"^  playlist: signed +{NUMBER} req/s, unsigned +{NUMBER} req/s .* CPU per request signed {NUMBER} µs",
        rf"^  part    : signed +{NUMBER} req/s, unsigned +{NUMBER} req/s",
        r"^fast path alone \(in process, 1 KB playlist",
        rf"^  CPU per request signed {NUMBER} µs, unsigned {NUMBER} µs → ratio",
    ],
    "vod_delivery": [
        r"^recording: ",
        rf"^  segment +\(.*Headwater +{NUMBER} req/s, nginx static +{NUMBER} req/s",
        rf"^  mp4 range +\(.*Headwater +{NUMBER} req/s, nginx static +{NUMBER} req/s",
    ],
    "screenshot_cost": [
        r"^source: \d+p30 H\.264",
        rf"^demux only \(reference\) +: {NUMBER} %",
        rf"^screenshots \(decode\+JPEG\): {NUMBER} %",
        r"^ratio screenshots / demux",
    ],
    "recording_cost": [
        r"^source: \d+p30 H\.264",
        rf"^worker not recording : {NUMBER} %",
        rf"^worker recording +: {NUMBER} %",
        rf"^recording costs +: {NUMBER} % of a core",
        rf"^recorded +: {NUMBER} s",
        rf"^finalize \d+ min: {NUMBER} s, peak Python memory {NUMBER} MiB",
    ],
    "restream_cost": [
        r"^source: \d+p30 H\.264, ",
        rf"^worker, no restream \(reference\): {NUMBER} %",
        rf"^worker, one RTMP target +: {NUMBER} % of a core \(connected: True\)",
        rf"^worker, one SRT target +: {NUMBER} % of a core \(connected: True\)",
        rf"^an RTMP target costs +: {NUMBER} % of a core",
        rf"^an SRT target costs +: {NUMBER} % of a core",
        rf"^ratio RTMP / reference +: {NUMBER}",
    ],
    "overlay_cost": [
        r"^source: \d+p H\.264, \d+ frames; overlay 600x200",
        rf"^plain frame copy \(reference\) +: {NUMBER} ms",
        rf"^scale to 2/3 size \(reference\) +: {NUMBER} ms",
        rf"^composite the overlay +: {NUMBER} ms",
        r"^ratio composite / frame copy",
        rf"^a new image: PNG decode {NUMBER} ms, conversion {NUMBER} ms",
        rf"^a new full-frame clock page \(stretch\): PNG decode {NUMBER} ms, conversion {NUMBER} ms",
    ],
    "overlay_capture": [
        rf"^renderer tree, browser up, no page \(reference\): {NUMBER} % of a core, {NUMBER} MiB PSS",
        rf"^renderer tree, 1 clock overlays 600x200: {NUMBER} % of a core, {NUMBER} MiB PSS, {NUMBER} images/s",
        rf"^per overlay: {NUMBER} % of a core, {NUMBER} MiB",
        r"^ratio with overlays / browser alone",
    ],
    "overlay_stream_cost": [
        r"^clip: 2 s 360p30, x264",
        rf"^1080p/720p/480p, no overlays \(reference\): {NUMBER} CPU-s",
        rf"^1080p/720p/480p, one lower third +: {NUMBER} CPU-s",
        r"^1080p/720p/480p, ratio lower third / reference",
        rf"^720p/480p/360p, no overlays \(reference\): {NUMBER} CPU-s",
        rf"^720p/480p/360p, one lower third +: {NUMBER} CPU-s",
        r"^720p/480p/360p, ratio lower third / reference",
    ],
    "overlay_latency": [
        r"^LL-HLS origin, 0\.5 s parts",
        rf"^API move → visible \(reference\): median {NUMBER} s, worst {NUMBER} s",
        rf"^page change → visible +: median {NUMBER} s, worst {NUMBER} s",
    ],
    "soak": [
        r"^soak: 3 streams, 6 LL-HLS viewers",
        rf"^ +{NUMBER} min +node +{NUMBER} MB.* \| idle {NUMBER} % steal {NUMBER} % load {NUMBER}$",
        rf"^  node_rss_mb +{NUMBER} → +{NUMBER} +[-+]{NUMBER} %",
        rf"^  workers_rss_mb +{NUMBER} → +{NUMBER}",
        rf"^  disk_dvr_mb +{NUMBER}",
        rf"^parts more than 1 s late: \d+ \(worst {NUMBER} s\)",
        r"^worker restarts not injected: \d+; publisher churns: \d+",
        r"^soak: (PASS|FAIL)",
    ],
    "live_fuzz": [
        rf"^mutated publishes: 30 at {NUMBER}/s",
        r"^node exits during the run: 0; good streams' workers restarted",
        rf"^reference .*: \d+/\d+ parts late .*worst {NUMBER} s",
        rf"^while fuzzing .*: \d+/\d+ parts late .*worst {NUMBER} s",
        rf"^node RSS: {NUMBER} MiB before, {NUMBER} MiB",
        r"^node stopped by SIGTERM: clean shutdown",
    ],
    "latency": [
        r"Headwater LL-HLS: first playlist .* latency p50",
        r"nginx-rtmp HLS \(ref\): first playlist .* latency p50",
        r"^p95 ratio Headwater / nginx-rtmp: \d",
        r"^Live latency the players report",
        *(
            rf"Headwater {player}, parts 0\.5 s: median"
            for player in ("Shaka, LL-HLS", "hls\\.js, LL-HLS", "Shaka, DASH", "dash\\.js, DASH")
        ),
        r"nginx-rtmp HLS, hls\.js \(ref\): median",
    ],
    "cluster_latency": [
        rf"direct \(node 1, owner\): \d+ parts, .*p95 {NUMBER} s; p95 added",
        rf"via node 2, proxy: \d+ parts, .*p95 {NUMBER} s; p95 added",
        rf"via node 3, redirect: \d+ parts, .*p95 {NUMBER} s; p95 added",
    ],
    "cache_latency": [
        rf"direct \(node\): \d+ parts, .*p95 {NUMBER} s; p95 added",
        rf"via nginx, first: \d+ parts, .*p95 {NUMBER} s; p95 added",
        rf"via nginx, second: \d+ parts, .*p95 {NUMBER} s; p95 added",
    ],
    "worker_memory": [
        r"^clip: 320x240, 2 s of FLV",
        rf"^glibc default arenas: RSS {NUMBER} → {NUMBER} MB \({NUMBER} MB per media minute\), CPU {NUMBER} s",
        rf"^MALLOC_ARENA_MAX=2 +: RSS {NUMBER} → {NUMBER} MB \({NUMBER} MB per media minute\), CPU {NUMBER} s",
        rf"^ratio CPU two arenas / default: {NUMBER}",
    ],
    "cluster_db_load": [
        rf"^idle \(no stream\) +: +{NUMBER} statements/s",
        rf"^1 live streams, no viewers +: +{NUMBER} statements/s",
        rf"^1 live streams, 4 viewers \(half proxied\) +: +{NUMBER} statements/s",
        rf"^per live stream at steady state +: +{NUMBER} statements/s",
        rf"^ratio 4 viewers / 2 viewers +: +{NUMBER}",
    ],
}


def test_every_benchmark_has_a_smoke_run() -> None:
    """A new script under bench/ gets a smoke run here (helpers are imported by the scripts)."""
    helpers = {
        "__init__",
        "clips",
        "framecode",
        "hls_client",
        "nginx_rtmp",
        "paced_flv",
        "proctree",
        "rtmp_publisher",
        "smoke",
    }
    scripts = {path.stem for path in (ROOT / "bench").glob("*.py")} - helpers
    assert scripts == set(REPORTS)


@pytest.mark.parametrize("script", REPORTS)
def test_smoke_run(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{script}", "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"bench.{script} --smoke failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    missing = [line for line in REPORTS[script] if not re.search(line, done.stdout, re.MULTILINE)]
    assert not missing, f"bench.{script} --smoke did not print {missing}:\n{done.stdout}"
