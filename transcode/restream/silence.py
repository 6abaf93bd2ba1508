"""Silent AAC for `no_audio_mode=silence`: one frame encoded once, repeated.

A silent AAC-LC frame at 48 kHz stereo is six bytes; every one is the same, so the encoder
runs once per worker and the restream only stamps copies of it (YouTube refuses a stream
without an audio track: Gcore's documentation of `no_audio_mode`).
"""

from __future__ import annotations

import functools

import av
import numpy as np

SAMPLE_RATE = 48000
LAYOUT = "stereo"
FRAME_SAMPLES = 1024  # AAC-LC: every frame lasts this many samples


@functools.cache
def silent_frame() -> bytes:
    """One AAC frame of silence (the encoder's priming frames skipped)."""
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format = SAMPLE_RATE, LAYOUT, "fltp"
    packets: list[bytes] = []
    for index in range(4):
        frame = av.AudioFrame.from_ndarray(np.zeros((2, FRAME_SAMPLES), np.float32), format="fltp", layout=LAYOUT)
        frame.sample_rate, frame.pts = SAMPLE_RATE, index * FRAME_SAMPLES
        packets += [bytes(p) for p in encoder.encode(frame)]
    return packets[-1]
