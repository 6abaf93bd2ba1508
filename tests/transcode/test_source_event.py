"""The worker's `started` event says what the audio is, from its AudioSpecificConfig."""

from __future__ import annotations

import io

import av

from transcode.pipeline import source_event


def test_aac_rate_and_channels_come_from_the_config_not_the_flv_header():
    holder = av.open(io.BytesIO(), mode="w", format="mp4")
    audio = holder.add_stream("aac", rate=44100)  # what FLV's audio tag header says for any AAC
    audio.codec_context.layout = "stereo"
    audio.codec_context.extradata = bytes([0x11, 0x88])  # AAC LC, 48 kHz, mono
    event = source_event(None, audio, ["origin"])
    assert (event.audio_codec, event.sample_rate, event.channels) == ("aac", 48000, 1)


def test_other_audio_keeps_the_streams_parameters():
    holder = av.open(io.BytesIO(), mode="w", format="mp4")
    audio = holder.add_stream("mp3", rate=44100)
    audio.codec_context.layout = "stereo"
    event = source_event(None, audio, ["origin"])
    assert (event.sample_rate, event.channels) == (44100, 2)
