"""Conformance of a live stream's init segments, read as a player reads them.

Each CMAF init segment must agree with the decoder configuration it carries: `mp4a`'s
channelcount/samplerate and `mdhd`'s timescale with the esds AudioSpecificConfig, `avc1`'s
width/height with the avcC's SPS. The manifests must say the same (the MPD's audio timescale,
audioSamplingRate and AudioChannelConfiguration, the master's CHANNELS), and every AAC sample
in the fragments must last one frame (1024 samples) in that timescale.

Written apart from the packager (its own box and bitstream readers), so a packager bug is not
read back as truth. `check_init_segments(http, stream_id)` is what the e2e tests call.
"""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import av
import httpx

from tests.support.hls import parse_master_playlist, parse_media_playlist

AAC_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
AAC_OBJECT_TYPES_WITH_GA_CONFIG = (1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23)
MPD_NS = {"mpd": "urn:mpeg:dash:schema:mpd:2011"}
H264_HIGH_PROFILES = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135)


# -- boxes ---------------------------------------------------------------------------------


def boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, box end) of the boxes laid end to end in data[start:end]."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, start + 8)
            header = 16
        assert size >= header and start + size <= end, f"bad box {kind!r} at {start}"
        yield kind.decode("latin-1"), start + header, start + size
        start += size


def box(data: bytes, path: str, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """(payload start, end) of the first box along a slash-separated path; AssertionError if absent."""
    first, _, rest = path.partition("/")
    for kind, payload, box_end in boxes(data, start, end):
        if kind == first:
            return box(data, rest, payload, box_end) if rest else (payload, box_end)
    raise AssertionError(f"no {path} box")


# -- decoder configurations ----------------------------------------------------------------


class Bits:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def read(self, count: int) -> int:
        value = 0
        for _ in range(count):
            byte = self.data[self.position >> 3]
            value = (value << 1) | ((byte >> (7 - (self.position & 7))) & 1)
            self.position += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.read(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.read(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


@dataclass(frozen=True)
class AudioConfig:
    """What an AudioSpecificConfig says (ISO/IEC 14496-3 §1.6.2.1)."""

    object_type: int
    sample_rate: int
    channels: int
    frame_length: int  # samples per AAC frame: 1024, or 960 with frameLengthFlag

    @property
    def channel_count(self) -> int:
        """Channels the channelConfiguration decodes to (7 → 7.1, ISO/IEC 23091-3)."""
        return {7: 8, 11: 7, 12: 8, 13: 24, 14: 8}.get(self.channels, self.channels)


def audio_specific_config(config: bytes) -> AudioConfig:
    bits = Bits(config)
    object_type = bits.read(5)
    if object_type == 31:
        object_type = 32 + bits.read(6)
    index = bits.read(4)
    sample_rate = bits.read(24) if index == 15 else AAC_SAMPLE_RATES[index]
    channels = bits.read(4)
    if object_type in (5, 29):  # explicit SBR/PS: the extension rate, then the core's object type
        index = bits.read(4)
        sample_rate = bits.read(24) if index == 15 else AAC_SAMPLE_RATES[index]
        object_type = bits.read(5)
        return AudioConfig(object_type, sample_rate, channels, 2048)
    frame_length = 1024
    if object_type in AAC_OBJECT_TYPES_WITH_GA_CONFIG:
        frame_length = 960 if bits.read(1) else 1024
    return AudioConfig(object_type, sample_rate, channels, frame_length)


def esds_audio_specific_config(data: bytes, start: int, end: int) -> bytes:
    """The DecoderSpecificInfo (tag 5) inside an esds payload."""
    position = start + 4  # version + flags
    while position < end:
        tag = data[position]
        position += 1
        length = 0
        while True:
            byte = data[position]
            position += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        if tag == 0x03:
            flags = data[position + 2]
            position += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                position += 1 + data[position]
        elif tag == 0x04:
            position += 13
        elif tag == 0x05:
            return data[position : position + length]
        else:
            position += length
    raise AssertionError("esds without an AudioSpecificConfig")


def without_emulation_prevention(nal: bytes) -> bytes:
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def sps_size(sps: bytes) -> tuple[int, int]:
    """(width, height) an H.264 SPS decodes to, cropping applied (ITU-T H.264 §7.3.2.1.1)."""
    bits = Bits(without_emulation_prevention(sps[1:]))
    profile = bits.read(8)
    bits.read(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in H264_HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            bits.read(1)
        bits.ue(), bits.ue()  # bit depths
        bits.read(1)
        if bits.read(1):  # scaling matrices
            for index in range(8 if chroma_format != 3 else 12):
                if bits.read(1):
                    last = following = 8
                    for _ in range(16 if index < 6 else 64):
                        if following:
                            following = (last + bits.se() + 256) % 256
                        last = following or last
    bits.ue()  # log2_max_frame_num
    order_type = bits.ue()
    if order_type == 0:
        bits.ue()
    elif order_type == 1:
        bits.read(1), bits.se(), bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue(), bits.read(1)  # max_num_ref_frames, gaps allowed
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    frame_mbs_only = bits.read(1)
    if not frame_mbs_only:
        bits.read(1)
    bits.read(1)  # direct_8x8_inference
    width, height = width_mbs * 16, (2 - frame_mbs_only) * height_units * 16
    if bits.read(1):
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        crop_x = 2 if chroma_format in (1, 2) else 1
        crop_y = (2 if chroma_format == 1 else 1) * (2 - frame_mbs_only)
        width -= crop_x * (left + right)
        height -= crop_y * (top + bottom)
    return width, height


# -- init segments -------------------------------------------------------------------------


@dataclass(frozen=True)
class InitFacts:
    """An init segment's track, as its boxes say it and as its decoder configuration says it."""

    kind: str  # sample entry: avc1, mp4a, …
    timescale: int
    width: int | None = None  # sample entry
    height: int | None = None
    sps_size: tuple[int, int] | None = None
    channel_count: int | None = None  # sample entry
    sample_rate: int | None = None  # sample entry (16.16 integer part)
    audio: AudioConfig | None = None


def read_init(data: bytes) -> InitFacts:
    mdhd, _ = box(data, "moov/trak/mdia/mdhd")
    version = data[mdhd]
    (timescale,) = struct.unpack_from(">I", data, mdhd + (20 if version == 1 else 12))
    stsd, stsd_end = box(data, "moov/trak/mdia/minf/stbl/stsd")
    entries = list(boxes(data, stsd + 8, stsd_end))
    assert len(entries) == 1, f"{len(entries)} sample entries"
    kind, entry, entry_end = entries[0]
    if kind in ("avc1", "avc3"):
        width, height = struct.unpack_from(">HH", data, entry + 24)
        avcc, _ = box(data, "avcC", entry + 78, entry_end)
        assert data[avcc + 5] & 0x1F >= 1, "avcC without an SPS"
        (length,) = struct.unpack_from(">H", data, avcc + 6)
        sps = data[avcc + 8 : avcc + 8 + length]
        return InitFacts(kind, timescale, width=width, height=height, sps_size=sps_size(sps))
    if kind == "mp4a":
        channels, _, _, _, rate = struct.unpack_from(">HHHHI", data, entry + 16)
        esds, esds_end = box(data, "esds", entry + 28, entry_end)
        config = audio_specific_config(esds_audio_specific_config(data, esds, esds_end))
        return InitFacts(kind, timescale, channel_count=channels, sample_rate=rate >> 16, audio=config)
    return InitFacts(kind, timescale)


def check_init(data: bytes) -> InitFacts:
    """The init segment's own fields agree with its decoder configuration."""
    facts = read_init(data)
    if facts.sps_size is not None:
        assert (facts.width, facts.height) == facts.sps_size, (
            f"avc1 says {facts.width}x{facts.height}, SPS {facts.sps_size}"
        )
    if facts.audio is not None:
        config = facts.audio
        assert facts.timescale == config.sample_rate, f"mdhd timescale {facts.timescale}, ASC {config}"
        assert facts.sample_rate == config.sample_rate, f"mp4a samplerate {facts.sample_rate}, ASC {config}"
        if config.channels:  # 0: a program_config_element says it
            assert facts.channel_count == config.channel_count, (
                f"mp4a channelcount {facts.channel_count}, AudioSpecificConfig {config}"
            )
    return facts


def sample_durations(segment: bytes) -> list[int]:
    """Every sample's duration in a CMAF segment's fragments (trun, else tfhd default)."""
    durations = []
    for kind, moof, moof_end in boxes(segment):
        if kind != "moof":
            continue
        traf, traf_end = box(segment, "traf", moof, moof_end)
        default = None
        for child, payload, _ in boxes(segment, traf, traf_end):
            flags = int.from_bytes(segment[payload + 1 : payload + 4], "big")
            if child == "tfhd":
                position = payload + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
                default = struct.unpack_from(">I", segment, position)[0] if flags & 0x8 else None
            elif child == "trun":
                (count,) = struct.unpack_from(">I", segment, payload + 4)
                position = payload + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
                fields = bin(flags & 0xF00).count("1")
                for _ in range(count):
                    durations.append(struct.unpack_from(">I", segment, position)[0] if flags & 0x100 else default)
                    position += 4 * fields
    return durations


def adts_config(data: bytes) -> tuple[int, int]:
    """(sampling rate, channel configuration) of an ADTS frame's header."""
    assert len(data) >= 7 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0, f"not ADTS: {data[:7].hex()}"
    return AAC_SAMPLE_RATES[(data[2] >> 2) & 0x0F], ((data[2] & 0x01) << 2) | (data[3] >> 6)


def check_ts_audio(segment: bytes, config: AudioConfig) -> None:
    """Every AAC frame of an MPEG-TS segment carries an ADTS header with the config's rate
    (the core's, for HE-AAC: ADTS signals SBR implicitly) and channels."""
    with av.open(io.BytesIO(segment), format="mpegts") as container:
        assert container.streams.audio, "the TS segment has no audio"
        headers = {adts_config(bytes(packet)) for packet in container.demux(audio=0) if packet.size}
    rate = config.sample_rate // 2 if config.frame_length == 2048 else config.sample_rate
    assert headers == {(rate, config.channels)}, f"ADTS headers say {headers}, {config}"


# -- a live stream -------------------------------------------------------------------------


def _newest(http: httpx.Client, base: str, rendition: str) -> tuple[bytes, bytes | None]:
    """(init segment, newest complete segment or None) of a rendition's CMAF playlist."""
    text = http.get(f"{base}/{rendition}/index.m3u8").text
    init_uri = None
    maps = {}
    for line in text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            init_uri = line.split('URI="', 1)[1].split('"', 1)[0]
        elif line and not line.startswith("#"):
            maps[line] = init_uri
    playlist = parse_media_playlist(text)
    segment = playlist.segments[-1] if playlist.segments else None
    uri = maps[segment.uri] if segment else init_uri
    assert uri, f"{rendition}: no EXT-X-MAP"
    init = http.get(f"{base}/{rendition}/{uri}")
    assert init.status_code == 200, f"{rendition}/{uri}: {init.status_code}"
    if segment is None:
        return init.content, None
    media = http.get(f"{base}/{rendition}/{segment.uri}")
    return init.content, media.content if media.status_code == 200 else None


def _mpd_audio(mpd: str) -> dict:
    root = ElementTree.fromstring(mpd)
    period = root.findall("mpd:Period", MPD_NS)[-1]
    for adaptation in period.findall("mpd:AdaptationSet", MPD_NS):
        for representation in adaptation.findall("mpd:Representation", MPD_NS):
            kind = representation.get("mimeType") or adaptation.get("mimeType") or adaptation.get("contentType", "")
            if "audio" not in kind:
                continue
            template = representation.find("mpd:SegmentTemplate", MPD_NS)
            if template is None:
                template = adaptation.find("mpd:SegmentTemplate", MPD_NS)
            channel = representation.find("mpd:AudioChannelConfiguration", MPD_NS)
            if channel is None:
                channel = adaptation.find("mpd:AudioChannelConfiguration", MPD_NS)
            return {
                "timescale": int(template.get("timescale")),
                "audioSamplingRate": representation.get("audioSamplingRate") or adaptation.get("audioSamplingRate"),
                "channels": channel.get("value") if channel is not None else None,
            }
    raise AssertionError("the MPD has no audio Representation")


def check_init_segments(http: httpx.Client, stream_id: int, *, audio: bool = True) -> dict[str, InitFacts]:
    """Check a live stream's init segments, and how its master playlist and MPD signal them.

    Video: every variant's avc1 size is its SPS's, and the master's RESOLUTION says it too.
    Audio (when `audio`): mdhd/mp4a against the AudioSpecificConfig, every sample of the
    newest segment one AAC frame long, the MPD's timescale/audioSamplingRate/
    AudioChannelConfiguration and the master's CHANNELS the config's, and the ADTS headers of
    the newest MPEG-TS segment too. Returns the facts per rendition, so a test can check what
    it published.
    """
    base = f"/live/{stream_id}"
    master = http.get(f"{base}/master.m3u8")
    assert master.status_code == 200, f"master.m3u8: {master.status_code}"
    variants, media = parse_master_playlist(master.text)
    facts: dict[str, InitFacts] = {}
    for variant in variants:
        rendition = variant.uri.split("/")[0]
        init, _ = _newest(http, base, rendition)
        facts[rendition] = check_init(init)
        if facts[rendition].sps_size and "RESOLUTION" in variant.attributes:
            width, height = facts[rendition].sps_size
            assert variant.attributes["RESOLUTION"] == f"{width}x{height}", f"{rendition}: {variant.attributes}"
    if not audio:
        return facts
    assert media, "the master lists no audio rendition"
    rendition = media[0]["URI"].split("/")[0]
    init, segment = _newest(http, base, rendition)
    facts[rendition] = check = check_init(init)
    config = check.audio
    assert config is not None, f"{rendition}: {check.kind}, not AAC"
    if segment is not None:
        durations = sample_durations(segment)
        assert durations and set(durations) == {config.frame_length}, (
            f"{rendition}: sample durations {sorted(set(durations))}, a frame is {config.frame_length}"
        )
    if config.channels:
        channels = media[0].get("CHANNELS")
        assert channels == str(config.channel_count), f"master CHANNELS {channels}, {config}"
    ts_master = http.get(f"{base}/master_mpegts.m3u8")
    if ts_master.status_code == 200:
        ts_variants, _ = parse_master_playlist(ts_master.text)
        ts_playlist = parse_media_playlist(http.get(f"{base}/{ts_variants[0].uri}").text)
        if ts_playlist.segments:
            directory = ts_variants[0].uri.rsplit("/", 1)[0]
            ts_segment = http.get(f"{base}/{directory}/{ts_playlist.segments[-1].uri}")
            if ts_segment.status_code == 200:
                check_ts_audio(ts_segment.content, config)
    mpd = http.get(f"{base}/index.mpd")
    if mpd.status_code == 200:
        signalled = _mpd_audio(mpd.text)
        assert signalled["timescale"] == check.timescale, f"MPD audio {signalled}, init timescale {check.timescale}"
        assert signalled["audioSamplingRate"] == str(config.sample_rate), f"MPD audio {signalled}, {config}"
        if config.channels:
            assert signalled["channels"] == str(config.channels), f"MPD audio {signalled}, {config}"
    return facts


def audio_segment_ready(http: httpx.Client, stream_id: int) -> bool:
    """Whether the stream's audio playlist lists a complete segment (then all is checkable)."""
    response = http.get(f"/live/{stream_id}/audio/index.m3u8")
    return response.status_code == 200 and bool(parse_media_playlist(response.text).segments)


def conformance(http: httpx.Client, stream_id: int, **options) -> dict[str, InitFacts] | AssertionError:
    """`check_init_segments`' facts, or the AssertionError it raised: a module fixture records
    it and one test re-raises it (`conformed`), so a failed check fails that test, not every
    test of the module."""
    try:
        return check_init_segments(http, stream_id, **options)
    except AssertionError as error:
        return error


def conformed(result: dict[str, InitFacts] | AssertionError) -> dict[str, InitFacts]:
    if isinstance(result, AssertionError):
        raise result
    return result
