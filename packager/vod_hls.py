"""VOD HLS over CMAF from a recording: a master playlist and one media playlist per track.

The media playlists list the recorded segment files as they are (`video/<n>.m4s`, relative
to the playlists, which sit at the recording's root): each run of segments sharing an init
gets its `EXT-X-MAP`, and a segment that does not follow on from the one before it an
`EXT-X-DISCONTINUITY` (always with a new map when the init changed). The playlist is
complete (`EXT-X-PLAYLIST-TYPE:VOD`, `EXT-X-ENDLIST`). Byte sizes are not in the playlist: the
node serves each segment at its indexed size (a segment recovered after a crash can have a
torn fragment at the end of its file that the index leaves out).
"""

from __future__ import annotations

from collections.abc import Sequence

from packager.hls import AudioRendition, Variant, master_playlist, target_duration
from packager.recording_layout import RecordedSegment, Recording
from packager.vod_tracks import InitFacts, bit_rates, runs

VOD_HLS_VERSION = 7  # EXT-X-MAP with segments that are not I-frame only
PLAYLISTS = {"video": "video.m3u8", "audio": "audio.m3u8"}


def vod_master_playlist(recording: Recording, facts: dict[str, InitFacts]) -> str:
    """One variant (the recorded video, or the audio alone) with the audio as a rendition."""
    return multi_variant_playlist([("", recording, facts)])


def multi_variant_playlist(recordings: Sequence[tuple[str, Recording, dict[str, InitFacts]]]) -> str:
    """A variant per recording (a clip's renditions), each `(folder, recording, facts)`: the
    recording's playlists are under `folder` ("" or "<n>/"). The audio is the first one's."""
    folder, first, first_facts = recordings[0]
    audio = first.tracks.get("audio", [])
    audio_facts = first_facts[audio[0].init] if audio else None
    rendition = None
    if audio_facts and first.tracks.get("video"):
        rendition = AudioRendition(folder + PLAYLISTS["audio"], audio_facts.channels)
    return master_playlist([_variant(*recording) for recording in recordings], rendition)


def _variant(folder: str, recording: Recording, facts: dict[str, InitFacts]) -> Variant:
    video = recording.tracks.get("video", [])
    audio = recording.tracks.get("audio", [])
    main = video or audio
    peak, average = bit_rates(main)
    if video and audio:
        audio_peak, audio_average = bit_rates(audio)
        peak, average = peak + audio_peak, average + audio_average
    first = facts[main[0].init]
    codecs = ",".join(facts[track[0].init].codec for track in (video, audio) if track)
    uri = folder + PLAYLISTS["video" if video else "audio"]
    return Variant(uri, peak, average, first.width, first.height, codecs, None)


def vod_media_playlist(segments: Sequence[RecordedSegment]) -> str:
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VOD_HLS_VERSION}",
        f"#EXT-X-TARGETDURATION:{target_duration([s.duration for s in segments])}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for number, run in enumerate(runs(segments)):
        if number:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f'#EXT-X-MAP:URI="{run[0].init}"')
        for segment in run:
            lines.append(f"#EXTINF:{segment.duration:.5f},")
            lines.append(segment.file)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
