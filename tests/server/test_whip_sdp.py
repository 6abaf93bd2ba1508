"""The node's checks on WHIP offers: a real aiortc offer, and broken or unsupported ones."""

from __future__ import annotations

import re

import pytest

from server.whip_sdp import OfferError, check_offer, media_sections
from tests.support.whip_client import offer_sdp as offer


@pytest.fixture(scope="module")
def h264_opus() -> str:
    return offer()


def refusal(sdp: str) -> OfferError:
    with pytest.raises(OfferError) as caught:
        check_offer(sdp)
    return caught.value


def test_an_h264_and_opus_offer_passes(h264_opus):
    check_offer(h264_opus)
    kinds = {s.kind: s.codecs for s in media_sections(h264_opus)}
    assert "h264" in kinds["video"] and "opus" in kinds["audio"]


def test_vp8_only_names_the_codec():
    error = refusal(offer(video="video/VP8"))
    assert error.status == 422 and "VP8" in str(error)


def test_missing_video_or_audio_is_422():
    assert refusal(offer(video=None)).status == 422
    assert refusal(offer(audio=False)).status == 422


def test_h264_renamed_in_the_rtpmap_is_not_h264(h264_opus):
    error = refusal(h264_opus.replace(" H264/90000", " H265/90000"))
    assert error.status == 422 and "H265" in str(error)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: "",
        lambda s: "\x00\xff" + s,
        lambda s: s.replace("v=0", "v=1", 1),
        lambda s: re.sub(r"m=video [^\r]*", "m=video 9", s, count=1),
        lambda s: s.replace("\r\na=", "\r\na line without an equals sign\r\na=", 1),
        lambda s: "\r\n".join(line for line in s.split("\r\n") if not line.startswith("m=")),
    ],
)
def test_broken_sdp_is_400(h264_opus, mutate):
    error = refusal(mutate(h264_opus))
    assert error.status == 400 and "malformed" in str(error)
