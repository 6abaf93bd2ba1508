"""The disk under `live/` fills up while a DVR stream plays (issue 22): the window gives way
with one warning (packager/disk_full.py), the live edge goes on, and no playlist ever names a
file that is not whole. A player's view: every init, segment and part the LL-HLS playlist
names and every TS segment is fetched as soon as it is listed, and each must be complete
(fMP4: top-level boxes that tile the bytes exactly, the right ones for its kind; TS: whole
188-byte packets). A URI that answers 404 must be gone from the next playlist (unlisted by a
shrink), never still listed."""

from __future__ import annotations

import struct
import subprocess
import time

import httpx
import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.media_check import segment_maps
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

TMPFS_SIZE = "16m"  # the live window and its grace (~12 MB of CMAF + TS at 640x360) fit; the whole publish does not
SECONDS = 60  # of media, pushed at READRATE × real time
READRATE = 4.0
LLHLS, TS = "origin/index.m3u8", "origin/mpegts.m3u8"


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of TMPFS_SIZE mounted where the node writes its live outputs."""
    live = tmp_path / "node" / "live"
    live.mkdir(parents=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(live)], check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"cannot mount a tmpfs here: {error}")
    yield tmp_path / "node"
    subprocess.run(["umount", "--lazy", str(live)], check=False)


def boxes(data: bytes) -> list[str]:
    """The top-level ISO BMFF box types, asserting that they tile `data` exactly."""
    found, at = [], 0
    while at < len(data):
        assert len(data) - at >= 8, f"a torn box header at {at} of {len(data)}"
        size, kind = struct.unpack_from(">I4s", data, at)
        if size == 1:
            size = struct.unpack_from(">Q", data, at + 8)[0]
        assert size >= 8 and at + size <= len(data), f"box {kind!r} at {at} runs past the end ({size} of {len(data)})"
        found.append(kind.decode("latin-1"))
        at += size
    return found


def check_whole(uri: str, data: bytes) -> None:
    if uri.endswith(".ts"):
        assert data and len(data) % 188 == 0 and data[::188] == b"\x47" * (len(data) // 188), f"{uri}: torn TS"
        return
    kinds = boxes(data)
    if uri.startswith("init"):
        assert kinds[:2] == ["ftyp", "moov"], f"{uri}: {kinds}"
    else:
        fragments = [k for k in kinds if k not in ("styp", "sidx", "prft")]
        assert fragments and fragments[::2] == ["moof"] * (len(fragments) // 2), f"{uri}: {kinds}"
        assert fragments[1::2] == ["mdat"] * (len(fragments) // 2) and len(fragments) % 2 == 0, f"{uri}: {kinds}"


def named(text: str) -> set[str]:
    playlist = parse_media_playlist(text)
    uris = {s.uri for s in playlist.segments if not s.gap} | set(segment_maps(text).values())
    uris |= {p.uri for s in playlist.segments for p in s.parts} | {p.uri for p in playlist.pending_parts}
    return uris - {None}


class Watcher:
    """Fetches every URI the stream's playlists name, once, as soon as they name it."""

    def __init__(self, http: httpx.Client, stream_id: int) -> None:
        self.http, self.base = http, f"/live/{stream_id}"
        self.checked: set[str] = set()
        self.missing: dict[str, str] = {}  # uri → the playlist that named it
        self.whole = 0

    def round(self) -> None:
        for path in (LLHLS, TS):
            response = self.http.get(f"{self.base}/{path}")
            if response.status_code != 200:
                continue
            for uri in self.missing.copy():
                if self.missing[uri] == path:
                    assert uri not in named(response.text), f"{uri} answered 404 and is still listed"
                    del self.missing[uri]
            for uri in sorted(named(response.text) - self.checked):
                self.checked.add(uri)
                media = self.http.get(f"{self.base}/origin/{uri}")
                if media.status_code == 404:
                    self.missing[uri] = path
                    continue
                assert media.status_code == 200, (uri, media.status_code)
                check_whole(uri, media.content)
                self.whole += 1


def test_a_full_disk_under_a_dvr_stream_never_lists_a_torn_file(small_disk):
    node = Node(small_disk).start(timeout=90)  # a loaded machine starts Python slowly
    publisher = None
    try:
        with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as http:
            fields = {"name": "full disk", "dvr_enabled": True, "dvr_duration": 3600}
            stream = http.post("/streaming/streams", json=fields).json()
            publisher = ffmpeg_publish(stream["push_url"], seconds=SECONDS, size="640x360", readrate=READRATE)
            watcher = Watcher(http, stream["id"])
            wait_for(lambda: http.get(f"/live/{stream['id']}/{LLHLS}").status_code == 200, timeout=30, what="live")
            while publisher.poll() is None:
                watcher.round()
                time.sleep(0.1)
            assert publisher.returncode == 0, publisher.stderr.read().decode(errors="replace")
            final = wait_for(
                lambda: (
                    (r := http.get(f"/live/{stream['id']}/{LLHLS}")).status_code == 200
                    and parse_media_playlist(r.text).ended
                    and r.text
                ),
                timeout=30,
                what="the final playlist",
            )
            watcher.round()
    finally:
        if publisher is not None:
            publisher.kill()
            publisher.wait()
        node.stop()
    log = node.log()
    assert 1 <= log.count("disk full") <= 4, log[-3000:]  # it filled, and said so once per shrink
    assert "Traceback" not in log, log[-3000:]
    final_playlist = parse_media_playlist(final)
    listed = sum(s.duration for s in final_playlist.segments)
    assert final_playlist.segments[-1].msn >= SECONDS // 2 - 3  # the live edge went on to the end of the publish
    assert listed < SECONDS - 4  # the window gave way
    assert watcher.whole > 50 and not watcher.missing, (watcher.whole, watcher.missing)
