"""Checks on a WHIP offer before any worker starts: well-formed SDP with H.264 and Opus.

Cheap line parsing on the node, so a bad offer gets a clear 4xx at once: 400 for SDP that is
not SDP, 422 for an offer we cannot take (no video, VP8 only, no Opus audio).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LINE = re.compile(r"^[a-z]=.*$")
RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9_.-]+)/\d+")
MAX_OFFER_BYTES = 64 * 1024


class OfferError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class MediaSection:
    kind: str
    codecs: set[str] = field(default_factory=set)


def media_sections(sdp: str) -> list[MediaSection]:
    """The offer's m= sections with the codec names of their rtpmaps; 400 when malformed."""
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise OfferError(400, "malformed SDP offer: it must start with v=0")
    bad = next((line for line in lines if not LINE.match(line)), None)
    if bad is not None:
        raise OfferError(400, f"malformed SDP offer: {bad[:60]!r} is not an SDP line")
    sections: list[MediaSection] = []
    for line in lines:
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 4:
                raise OfferError(400, f"malformed SDP offer: {line[:60]!r}")
            sections.append(MediaSection(parts[0]))
        elif sections and (match := RTPMAP.match(line)):
            sections[-1].codecs.add(match.group(2).lower())
    if not sections:
        raise OfferError(400, "malformed SDP offer: no media (m=) sections")
    return sections


def check_offer(sdp: str) -> None:
    """Refuse, with the reason, an offer without H.264 video and Opus audio (both required)."""
    sections = media_sections(sdp)
    video = set().union(*(s.codecs for s in sections if s.kind == "video"))
    audio = set().union(*(s.codecs for s in sections if s.kind == "audio"))
    if not any(s.kind == "video" for s in sections):
        raise OfferError(422, "the offer has no video: WHIP publishing needs H.264 video and Opus audio")
    if "h264" not in video:
        offered = ", ".join(sorted(c.upper() for c in video)) or "none"
        raise OfferError(422, f"video codecs offered: {offered}; Headwater takes H.264 only")
    if not any(s.kind == "audio" for s in sections) or "opus" not in audio:
        raise OfferError(422, "the offer has no Opus audio: WHIP publishing needs H.264 video and Opus audio")


HOST_CANDIDATE = re.compile(r"^a=candidate:(\S+) (\d+) (udp|UDP) (\d+) (\S+) (\d+) typ host(.*)$")


def with_public_host(answer: str, host: str) -> str:
    """The answer with, after each UDP host candidate, the same port at `host`: behind
    Docker's port mapping or a 1:1 NAT (ports kept: `whip_udp_ports`) the node's own address
    is not reachable, the host's is, and the mapping leads to the same socket."""
    newline = "\r\n" if "\r\n" in answer else "\n"
    lines: list[str] = []
    for line in answer.split(newline):
        lines.append(line)
        match = HOST_CANDIDATE.match(line)
        if match is not None and match.group(5) != host:
            foundation, component, transport, priority, _, port, rest = match.groups()
            lines.append(
                f"a=candidate:{foundation}p {component} {transport} {int(priority) - 1} {host} {port} typ host{rest}"
            )
    return newline.join(lines)
