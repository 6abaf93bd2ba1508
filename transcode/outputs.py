"""Every output of one stream: one `LiveOutput` (CMAF/LL-HLS/DASH) for all variants, one
`TsRendition` per variant for legacy HLS, and the MPEG-TS master playlist over them.

The origin job and the transcoder both mux here, from the worker's main thread (the
packagers are not thread-safe). The origin is added first, so it leads the CMAF segmenting;
the shared audio track goes into the CMAF output once and into every TS variant (TS variants
carry their audio muxed in).

With html_overlay the origin is re-encoded; the source's own video then goes into one more
CMAF track (`add_source`, `SOURCE`), unlisted: in no playlist, master, MPD or TS output, for
the recorder's `record_type=origin` only. Added first, it leads the CMAF segmenting, so every
variant is cut at the source's keyframes as without overlays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from packager.file_thread import FileThread
from packager.live import LiveOutput, PackagerConfig, VideoTrackId
from packager.ts_output import TsRendition, TsVariant, write_ts_master

AUDIO_ONLY = "origin"  # an audio-only stream's TS variant keeps the origin's name
SOURCE = "source"  # the unlisted CMAF track of the source as received (html_overlay)
BANDWIDTH_MARGIN = 1.2  # measured first TS segment → BANDWIDTH in the TS master


@dataclass
class _Variant:
    name: str
    track: VideoTrackId | None
    ts: TsRendition
    ts_video: int | None
    resolution: tuple[int, int] | None
    frame_rate: float | None
    template: av.stream.Stream | None = None  # what the TS variant's video stream copies
    ts_audio: int | None = None
    first_segment: dict | None = None
    master_stale: bool = False  # changed format: the TS master follows at its next segment
    retired: bool = False


class StreamOutputs:
    """Add every video variant, then the audio (once), then mux; `close` ends everything."""

    def __init__(self, config: PackagerConfig, emit: Callable[[dict], None], *, mpegts_endlist: bool = True) -> None:
        self.config = config
        self.emit = emit
        self.out_dir = Path(config.out_dir)
        self.mpegts_endlist = mpegts_endlist
        self.files = FileThread()  # deletions and playlist copies: off the packaging thread
        self.cmaf = LiveOutput(
            config, emit, remove=self.files.remove, write=self.files.write_atomic, make_room=self.make_room
        )
        self.variants: dict[str, _Variant] = {}
        self.source_track: VideoTrackId | None = None
        self.audio_track = None
        self.ts_master_text: str | None = None

    # -- setup --------------------------------------------------------------------------
    def add_source(self, template: av.stream.Stream) -> None:
        """The source's video as received, beside an origin that is re-encoded: CMAF only,
        unlisted (the recorder's). Add it before the variants: it leads the segmenting."""
        self.source_track = self.cmaf.add_video(SOURCE, template, listed=False)

    def add_video(
        self, name: str, template: av.stream.Stream, *, resolution: tuple[int, int] | None, frame_rate: float | None
    ) -> None:
        if name == SOURCE:
            raise ValueError(f"{SOURCE!r} names the source's unlisted track")
        track = self.cmaf.add_video(name, template)
        ts = self._new_ts(name)
        self.variants[name] = _Variant(name, track, ts, ts.add_stream(template), resolution, frame_rate, template)

    def add_audio(self, template: av.stream.Stream) -> None:
        self.audio_track = self.cmaf.add_audio(template)
        if not self.variants:  # audio-only: one TS variant of audio
            self.variants[AUDIO_ONLY] = _Variant(AUDIO_ONLY, None, self._new_ts(AUDIO_ONLY), None, None, None)
        for variant in self.variants.values():
            variant.ts_audio = variant.ts.add_stream(template)

    def _new_ts(self, name: str, follows: TsRendition | None = None) -> TsRendition:
        """A variant's TS packager; it continues `follows` (a source switch) or, for a worker
        that replaces one, that worker's playlist of the variant (`config.resume`)."""
        resumed = self.config.resume.ts_for(name) if self.config.resume and follows is None else None
        carried = self.config.span.newest(self.config.resume.ts_carried.get(name, [])) if resumed is not None else []
        ts = TsRendition(
            self.out_dir,
            name,
            self._on_ts_event,
            window_segments=self.config.span,
            start_sequence=resumed.sequence if resumed else 0,
            discontinuity_sequence=resumed.discontinuity_sequence if resumed else 0,
            follows=follows,
            carried=carried,
            remove=self.files.remove,
            write=self.files.write_atomic,
            make_room=self.make_room,
        )
        if carried:  # their files are this worker's to delete now
            self.emit({"event": "carried", "paths": [event["path"] for event in carried]})
        if resumed is not None:
            ts.discontinuity()
        return ts

    # -- packets ------------------------------------------------------------------------
    def mux_video(self, name: str, packet: av.Packet, *, segment_start: bool) -> None:
        variant = self.variants[name]
        if variant.retired:
            return
        self.cmaf.mux(variant.track, packet)
        variant.ts.mux(variant.ts_video, packet, segment_start=segment_start)

    def mux_source(self, packet: av.Packet) -> None:
        if self.source_track is not None:
            self.cmaf.mux(self.source_track, packet)

    def mux_audio(self, packet: av.Packet, *, segment_start: bool = False) -> None:
        if self.audio_track is None:
            return
        self.cmaf.mux(self.audio_track, packet)
        for variant in self.variants.values():
            if not variant.retired and variant.ts_audio is not None:
                variant.ts.mux(variant.ts_audio, packet, segment_start=segment_start)

    def source_changed(self, templates: dict[str, av.stream.Stream], audio: av.stream.Stream | None) -> None:
        """Another source follows (a failover, a pull switch): every CMAF track and every TS
        variant continues its playlist after a discontinuity. `templates` names the variants
        whose codec parameters now come from the new source (the origin, or the unlisted
        `SOURCE`); `audio` is its audio track, or None (the audio track then gets no packets)."""
        cmaf = {
            self.variants[name].track: template
            for name, template in templates.items()
            if name in self.variants and self.variants[name].track is not None
        }
        if self.source_track is not None and SOURCE in templates:
            cmaf[self.source_track] = templates[SOURCE]
        if audio is not None and self.audio_track is not None:
            cmaf[self.audio_track] = audio
        self.cmaf.discontinuity(cmaf)
        for variant in self.variants.values():
            if variant.retired:
                continue
            variant.template = templates.get(variant.name, variant.template)
            variant.ts.close(endlist=False)
            variant.ts = self._new_ts(variant.name, follows=variant.ts)
            variant.ts_video = variant.ts.add_stream(variant.template) if variant.template is not None else None
            has_audio = audio is not None and self.audio_track is not None
            variant.ts_audio = variant.ts.add_stream(audio) if has_audio else None

    def format_changed(self, name: str, width: int, height: int, extradata: bytes) -> None:
        """Variant `name`'s video changes picture format at the keyframe muxed next (see
        `packager/parameter_sets.py`): a new CMAF init generation for every track from that
        segment on (`LiveOutput.change_format`), EXT-X-DISCONTINUITY on every TS variant's
        next segment (all variants stay aligned), and both masters tell the new size once
        its first segment is out. TS carries the new SPS in-band, so its muxers go on.
        `SOURCE` (the unlisted track, which leads): the variants keep their encoded size, and
        take the new generation and the discontinuity as they would after the origin's change."""
        variant = self.variants.get(name) if name != SOURCE else None
        track = variant.track if variant is not None else self.source_track
        assert track is not None
        new_generation = self.cmaf.change_format(track, width, height, extradata)
        if variant is not None:
            variant.resolution = (width, height)
            variant.ts.parameter_sets_changed(variant.ts_video, extradata)
        if not new_generation:  # nothing was packaged yet: the outputs simply start at this size
            return
        if variant is not None:
            variant.master_stale = True
        for other in self.variants.values():
            if not other.retired:
                other.ts.discontinuity()

    def set_dvr(self, dvr_seconds: float | None) -> None:
        """The stream's DVR window changed while live: every output follows at once (they share
        the config's `WindowSpan`)."""
        self.cmaf.set_dvr(dvr_seconds)
        self._retrim(restart=False)

    def clear_dvr(self) -> None:
        """clear_dvr: every output's window restarts at the live edge; its files go."""
        self.cmaf.clear_dvr()
        self._retrim(restart=True)

    def make_room(self) -> bool:
        """A media write found the disk full: the DVR window shrinks in every output and this
        waits for its files to go (see `packager/disk_full.py`)."""
        freed = self.cmaf.shrink_for_space()
        for variant in self.variants.values():
            if not variant.retired:
                freed = variant.ts.release() or freed
        if freed:
            self.files.drain()
        return freed

    def _retrim(self, restart: bool) -> None:
        for variant in self.variants.values():
            if not variant.retired:
                variant.ts.retrim(restart)

    def retire(self, name: str) -> None:
        """Stop a variant for good (the transcoder shed it): it leaves the masters and the MPD,
        its playlists end, players on it switch to another variant."""
        variant = self.variants[name]
        if variant.retired:
            return
        variant.retired = True
        self.cmaf.retire_video(variant.track)
        variant.ts.close(endlist=True)
        if self.ts_master_text is not None:
            self._write_ts_master()

    # -- MPEG-TS master -------------------------------------------------------------------
    def _on_ts_event(self, event: dict) -> None:
        self.emit(event)
        if event.get("event") != "ts_segment":
            return
        variant = self.variants.get(event["rendition"])
        if variant is not None and (variant.first_segment is None or (variant.master_stale and event["discontinuity"])):
            variant.first_segment = event  # BANDWIDTH is measured on it (after a change: the first at the new size)
            variant.master_stale = False
            if all(v.first_segment or v.retired for v in self.variants.values()):
                self._write_ts_master()

    def _write_ts_master(self) -> None:
        variants = [self._ts_variant(v) for v in self.variants.values() if not v.retired and v.first_segment]
        text = write_ts_master(self.out_dir, variants)
        if text != self.ts_master_text:
            self.ts_master_text = text
            self.emit({"event": "ts_master", "path": "master_mpegts.m3u8", "text": text})

    def _ts_variant(self, variant: _Variant) -> TsVariant:
        first = variant.first_segment
        size = (self.out_dir / first["path"]).stat().st_size if (self.out_dir / first["path"]).exists() else 0
        average = int(size * 8 / max(first["duration"], 0.1))
        return TsVariant(
            rendition=variant.name,
            bandwidth=int(average * BANDWIDTH_MARGIN),
            resolution=variant.resolution,
            codecs=self._codecs(variant),
            frame_rate=variant.frame_rate,
            average_bandwidth=average,
        )

    def _codecs(self, variant: _Variant) -> str | None:
        """The variant's codecs as the CMAF init segments name them (TS carries the same
        bitstreams); None until every one is known."""
        tracks = [t for t in (variant.track, self.audio_track) if t is not None]
        codecs = [self.cmaf.codec_string(t) for t in tracks]
        return ",".join(codecs) if codecs and all(codecs) else None

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.cmaf.close()
            for variant in self.variants.values():
                if not variant.retired:
                    variant.ts.close(endlist=self.mpegts_endlist)
        finally:
            self.files.close()
