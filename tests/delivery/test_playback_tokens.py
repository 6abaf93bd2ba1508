"""Playback tokens (`server/delivery/playback_tokens.py`): minted, checked, and taken off the path."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from server.delivery.playback_tokens import Opened, PlaybackTokens, Refusal

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_800_000_100.0  # (not on an hour)


def plain(opened: Opened | Refusal) -> tuple[str, str] | Refusal:
    """An Opened's path and token (what a test names), a Refusal as it is."""
    return opened[:2] if isinstance(opened, Opened) else opened


@pytest.fixture
def tokens() -> PlaybackTokens:
    return PlaybackTokens(SECRET, ttl=86400)


def test_a_minted_token_opens_every_path_under_its_prefix(tokens):
    token = tokens.token("/live/42/", now=NOW)
    for rest in ("master.m3u8", "origin/index.m3u8", "origin/seg_12.3.m4s", "index.mpd", "screenshot.jpg"):
        assert plain(tokens.open(f"/live/42/{token}{rest}", None, NOW)) == (f"/live/42/{rest}", token)


def test_the_signature_is_the_documented_hmac(tokens):
    """What the README shows a CDN or another app: base64url(HMAC-SHA256(secret, prefix\\nexpires))."""
    digest = hmac.new(SECRET, b"/live/42/\n1800090000", hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert tokens.token_until("/live/42/", 1800090000) == f"t/1800090000/{signature}/"
    assert isinstance(tokens.open(f"/live/42/t/1800090000/{signature}/master.m3u8", None, NOW), Opened)


def test_expiry_is_at_least_the_ttl_rounded_up_to_a_shared_step(tokens):
    expires = tokens.expiry(NOW)
    assert NOW + 86400 <= expires < NOW + 86400 + 3600 and expires % 3600 == 0
    assert tokens.token("/live/42/", now=NOW) == tokens.token("/live/42/", now=NOW + 1)  # one URL for a CDN
    short = PlaybackTokens(SECRET, ttl=60)
    assert NOW + 60 <= short.expiry(NOW) < NOW + 120


def test_an_expired_token_is_refused(tokens):
    token = tokens.token_until("/live/42/", int(NOW) - 1)
    assert tokens.open(f"/live/42/{token}master.m3u8", None, NOW) is Refusal.EXPIRED
    assert isinstance(tokens.open(f"/live/42/{token}master.m3u8", None, NOW - 1), Opened)


def test_forged_altered_and_foreign_tokens_are_refused_alike(tokens):
    token = tokens.token("/live/42/", now=NOW)
    _, expires, signature, _ = token.split("/")
    other = PlaybackTokens(b"another secret, just as long as ours", ttl=86400)
    cases = {
        "another stream's": f"/live/43/{token}master.m3u8",
        "a video's prefix": f"/videos/42/{token}master.m3u8",
        "a later expiry": f"/live/42/t/{int(expires) + 3600}/{signature}/master.m3u8",
        "another secret": f"/live/42/{other.token('/live/42/', now=NOW)}master.m3u8",
        "a flipped character": f"/live/42/t/{expires}/{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}/x.m3u8",
    }
    for name, path in cases.items():
        assert tokens.open(path, None, NOW) is Refusal.INVALID, name


def test_a_playback_path_without_a_token_is_refused_and_other_paths_pass(tokens):
    for path in (
        "/live/42/master.m3u8",
        "/live/42/t/1/short/master.m3u8",
        "/live/42/t/\u00b2/" + "A" * 43 + "/master.m3u8",  # a digit to str.isdigit, not to int()
        "/live/42/t/12/" + "A" * 43 + "/",
        "/videos/7_abc/master.m3u8",
        "/clips/x/clip.mp4",
        "/player/42",
        "/player/videos/7_abc",
    ):
        assert tokens.open(path, None, NOW) is Refusal.REQUIRED, path
    for path in ("/streaming/streams", "/player/assets/hls.min.js", "/time", "/whip/42", "/health"):
        assert plain(tokens.open(path, None, NOW)) == (path, ""), path


def test_videos_clips_and_player_pages_take_their_prefix_token(tokens):
    video = tokens.token("/videos/7_abc/", now=NOW)
    clip = tokens.token("/clips/Zx9_-/", now=NOW)
    live = tokens.token("/live/42/", now=NOW)
    assert plain(tokens.open(f"/videos/7_abc/{video}video/3.m4s", None, NOW)) == ("/videos/7_abc/video/3.m4s", video)
    assert plain(tokens.open(f"/clips/Zx9_-/{clip}0/video.m3u8", None, NOW)) == ("/clips/Zx9_-/0/video.m3u8", clip)
    assert plain(tokens.open(f"/player/42/{live[:-1]}", None, NOW)) == ("/player/42", live)
    assert plain(tokens.open(f"/player/videos/7_abc/{video}", None, NOW)) == ("/player/videos/7_abc", video)
    assert tokens.open(f"/player/43/{live}", None, NOW) is Refusal.INVALID
    assert tokens.open(f"/player/videos/7_abc/{live}", None, NOW) is Refusal.INVALID


def test_a_good_token_is_checked_once_and_remembered_for_every_viewer(tokens):
    token = tokens.token("/live/42/", now=NOW)
    for address in ("203.0.113.7", "203.0.113.8"):
        assert isinstance(tokens.open(f"/live/42/{token}master.m3u8", address, NOW), Opened)
    assert len(tokens.known) == 1
    tokens.secret = b"rotated: what is remembered is not checked again"
    assert isinstance(tokens.open(f"/live/42/{token}origin/index.m3u8", None, NOW), Opened)
    assert tokens.open(f"/live/42/{token}master.m3u8", None, tokens.expiry(NOW) + 1) is Refusal.EXPIRED
    assert tokens.open(f"/live/43/{token}master.m3u8", None, NOW) is Refusal.INVALID


def test_with_the_address_bound_a_token_opens_from_its_address_only():
    tokens = PlaybackTokens(SECRET, ttl=86400, bind_address=True)
    token = tokens.token("/live/42/", "203.0.113.7", now=NOW)
    path = f"/live/42/{token}master.m3u8"
    assert plain(tokens.open(path, "203.0.113.7", NOW)) == ("/live/42/master.m3u8", token)
    assert tokens.open(path, "203.0.113.8", NOW) is Refusal.INVALID
    assert tokens.open(path, None, NOW) is Refusal.INVALID
    unbound = PlaybackTokens(SECRET, ttl=86400).token("/live/42/", now=NOW)
    assert tokens.open(f"/live/42/{unbound}master.m3u8", "203.0.113.7", NOW) is Refusal.INVALID
