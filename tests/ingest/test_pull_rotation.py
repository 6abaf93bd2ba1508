"""Round robin and backoff of pull URLs, with an opener that fails like FFmpeg does."""

from __future__ import annotations

import threading

import av
import pytest

from ingest.pull.source import PullRotation, redacted, source_type


def refusing_opener(opened: list[str], working: set[str]):
    def opener(url: str, open_timeout: float, read_timeout: float):
        opened.append(url)
        if url not in working:
            raise av.error.ConnectionRefusedError(111, "Connection refused", url)
        return url

    return opener


def rotation(urls, opener, stop, failures, backoff_max=0.01):
    return PullRotation(
        urls,
        open_timeout=1,
        read_timeout=1,
        backoff_max=backoff_max,
        stop=stop,
        on_failure=lambda url, message: failures.append(message),
        opener=opener,
    )


def test_round_robin_skips_failing_urls_and_wraps_around():
    opened, failures, stop = [], [], threading.Event()
    urls = ["rtmp://a/x", "rtmp://b/x", "http://c/x.m3u8"]
    sources = rotation(urls, refusing_opener(opened, {"rtmp://b/x", "http://c/x.m3u8"}), stop, failures).sources()
    assert [next(sources) for _ in range(3)] == ["rtmp://b/x", "http://c/x.m3u8", "rtmp://b/x"]
    assert opened == ["rtmp://a/x", "rtmp://b/x", "http://c/x.m3u8", "rtmp://a/x", "rtmp://b/x"]
    assert failures == ["rtmp://a/x: Connection refused"] * 2


def test_backoff_doubles_per_failed_round_up_to_the_limit():
    stop, failures = threading.Event(), []
    pull = rotation(["rtmp://a/x", "rtmp://b/x"], refusing_opener([], set()), stop, failures, backoff_max=3)
    waits = []
    stop.wait = lambda seconds: waits.append(seconds) or (len(waits) >= 5 and stop.set())
    assert list(pull.sources()) == []
    assert waits == [0.5, 1.0, 2.0, 3, 3] and len(failures) == 10


def test_no_urls_is_refused():
    with pytest.raises(ValueError, match="at least one URL"):
        rotation([], refusing_opener([], set()), threading.Event(), [])


def test_source_type_and_redaction():
    assert [source_type(u) for u in ("rtmps://h/a", "https://h/a.m3u8", "rtsp://h/s", "srt://h:1")] == [
        "rtmp",
        "https",
        "rtsp",
        "srt",
    ]
    assert redacted("rtmp://user:secret@host:1935/app/key?token=abc") == "rtmp://host:1935/app/key"


def test_an_srt_urls_options_mean_what_they_mean_to_ffmpeg_and_the_pulls_timeouts_fill_in():
    from ingest.pull.srt import caller_options
    from ingest.srt import libsrt

    host, port, options = caller_options("srt://h:9000?passphrase=p4ssphrase-x&latency=200000&streamid=a", 3, 2)
    assert (host, port) == ("h", 9000)
    assert options == {
        libsrt.SRTO_CONNTIMEO: 3000,
        libsrt.SRTO_RCVTIMEO: 2000,
        libsrt.SRTO_LATENCY: 200,
        libsrt.SRTO_PASSPHRASE: b"p4ssphrase-x",
        libsrt.SRTO_STREAMID: b"a",
    }
    _, _, options = caller_options("srt://h:9000?connect_timeout=500&timeout=7000000", 3, 2)
    assert options == {libsrt.SRTO_CONNTIMEO: 500, libsrt.SRTO_RCVTIMEO: 7000}
    with pytest.raises(ValueError, match="caller"):
        caller_options("srt://h:9000?mode=listener", 3, 2)


@pytest.fixture
def libsrt_in_this_process():
    """A worker starts libsrt once and keeps it; in the test process, end it again, since the
    SRT listener's tests count libsrt's threads."""
    from ingest.pull import srt
    from ingest.srt import libsrt

    yield
    if srt.start_libsrt.cache_info().currsize:
        libsrt.lib.srt_cleanup()
        srt.start_libsrt.cache_clear()


def test_an_srt_url_nobody_answers_fails_with_a_clear_error(libsrt_in_this_process):
    """How soon it gives up (its timeouts): bench/wakeup_latency.py."""
    from ingest.pull.srt import open_srt
    from tests.support.ports import free_port

    with pytest.raises(ValueError, match="srt_connect") as failure:
        open_srt(f"srt://127.0.0.1:{free_port()}?passphrase=secret-phrase-1", 1, 1)
    assert "secret" not in str(failure.value)  # the message names the URL without its query
