"""Whether a source's video is something browsers and most devices can decode.

H.264 plays everywhere only as 8-bit 4:2:0 (Baseline, Main, High): browsers' Media Source
Extensions and the hardware decoders of phones, TVs and set-top boxes refuse High 10, High
4:2:2 and High 4:4:4 Predictive. GStreamer's `x264enc` picks such a format by itself when its
input is 10-bit or 4:4:4 (e.g. `videotestsrc` with no caps), and ffmpeg does with
`-pix_fmt yuv420p10le`/`yuv444p`. Where HEVC plays at all it plays as Main or Main 10 (8 or
10-bit 4:2:0).

The origin variant passes such a source through as it is (its CODECS attribute, read from the
init segment, names the profile, so players that check it can skip the variant); the renditions
of a quality set are always encoded as 8-bit 4:2:0 (`transcode/encoders.PIXEL_FORMAT`).
"""

from __future__ import annotations

import av

PLAYABLE = {
    "h264": {(8, "4:2:0")},
    "hevc": {(8, "4:2:0"), (10, "4:2:0")},
}
CODEC_NAMES = {"h264": "H.264", "hevc": "HEVC"}
_PROBE_SIZE = 16  # any even size: only the planes' proportions are read


def sampling(pixel_format: str) -> tuple[int, str] | None:
    """(bits per sample, chroma subsampling) of a YUV or grey pixel format, None for others."""
    try:
        video_format = av.VideoFormat(pixel_format, _PROBE_SIZE, _PROBE_SIZE)
    except ValueError:
        return None
    components = video_format.components
    if video_format.is_rgb or not components:
        return None
    bits = components[0].bits
    if len(components) < 3:
        return bits, "4:0:0"
    chroma = components[1]
    if chroma.width == _PROBE_SIZE:
        return bits, "4:4:4"
    return bits, "4:2:2" if chroma.height == _PROBE_SIZE else "4:2:0"


def playability_warning(video, transcoded: bool) -> str | None:
    """A sentence for the operator when `video` (a PyAV stream) is a format most players
    cannot decode, else None. `transcoded`: the stream has renditions besides the origin."""
    if video is None:
        return None
    context = video.codec_context
    playable = PLAYABLE.get(context.name)
    pixel_format = context.pix_fmt
    if playable is None or pixel_format is None:
        return None
    format_of = sampling(pixel_format)
    if format_of is None or format_of in playable:
        return None
    bits, chroma = format_of
    profile = f" {context.profile}" if context.profile else ""
    remedy = (
        "the origin variant passes it through as is, the renditions are 8-bit 4:2:0"
        if transcoded
        else "it is passed through as is; a quality set adds 8-bit 4:2:0 renditions"
    )
    wanted = " or ".join(f"{b}-bit {c}" for b, c in sorted(playable))
    return (
        f"source video is {CODEC_NAMES[context.name]}{profile}, {bits}-bit {chroma} ({pixel_format}), "
        f"which browsers and most devices do not play (they need {wanted}): {remedy}"
    )
