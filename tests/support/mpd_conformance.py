"""Conformance of a live MPD across refreshes (ISO/IEC 23009-1 §5.4, DASH-IF IOP live rules).

What one MPD announced, every later one must keep: availabilityStartTime; each Period's start
(by its id) and, with it, every presentationTimeOffset; each segment's `t` and `d` (by
Representation and `$Number$`). Segments may only leave at the front of a timeline (the window
slides). Within each MPD: the ServiceDescription's Latency@referenceId names an existing
ProducerReferenceTime, every UTCTiming URL is absolute, and a dynamic MPD has the DASH-IF
low-latency profile.

`check_mpds(texts)` checks MPD texts in the order they were published (AssertionError saying
what changed); `MpdWatch` / `watch_mpd` fetch a live stream's MPD again and again and collect
what is wrong, for e2e tests to assert on.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
LOW_LATENCY_PROFILE = "http://www.dashif.org/guidelines/low-latency-live-v5"


@dataclass
class Announced:
    """Everything the MPDs seen so far promised."""

    availability_start: str | None = None
    period_starts: dict[str, str] = field(default_factory=dict)  # Period id → @start
    offsets: dict[tuple[str, str], str] = field(default_factory=dict)  # (Period, Representation) → PTO
    # (Period, Representation, number) → (t, d)
    segments: dict[tuple[str, str, int], tuple[int, int]] = field(default_factory=dict)
    refreshes: int = 0


def check_mpds(texts: list[str]) -> Announced:
    announced = Announced()
    for index, text in enumerate(texts):
        check_mpd(ET.fromstring(text), announced, f"MPD #{index}")
    return announced


def check_mpd(root: ET.Element, announced: Announced, name: str = "MPD") -> None:
    """Check one MPD on its own and against what earlier ones announced, then remember it."""
    _check_alone(root, name)
    start = root.get("availabilityStartTime")
    if announced.availability_start is not None and start is not None:
        assert start == announced.availability_start, (
            f"{name}: availabilityStartTime {announced.availability_start} → {start}"
        )
    announced.availability_start = announced.availability_start or start
    for period in root.iterfind("d:Period", NS):
        period_id = period.get("id")
        assert period_id is not None, f"{name}: a Period without id"
        earlier = announced.period_starts.setdefault(period_id, period.get("start"))
        assert period.get("start") == earlier, f"{name}: Period {period_id} start {earlier} → {period.get('start')}"
        for representation in period.iterfind("d:AdaptationSet/d:Representation", NS):
            _check_representation(representation, period_id, announced, name)
    announced.refreshes += 1


def _check_alone(root: ET.Element, name: str) -> None:
    for timing in root.iter(f"{{{NS['d']}}}UTCTiming"):
        url = urlparse(timing.get("value", ""))
        assert url.scheme in ("http", "https") and url.netloc, f"{name}: UTCTiming {timing.get('value')!r} not absolute"
    if root.get("type") != "dynamic":
        return
    assert LOW_LATENCY_PROFILE in (root.get("profiles") or "").split(","), f"{name}: profiles {root.get('profiles')}"
    references = {prt.get("id") for prt in root.iter(f"{{{NS['d']}}}ProducerReferenceTime")}
    for latency in root.iterfind("d:ServiceDescription/d:Latency", NS):
        reference = latency.get("referenceId")
        assert reference in references, f"{name}: Latency@referenceId {reference} names no ProducerReferenceTime"
    for prt in root.iter(f"{{{NS['d']}}}ProducerReferenceTime"):
        for attribute in ("wallClockTime", "presentationTime"):
            assert prt.get(attribute), f"{name}: ProducerReferenceTime without @{attribute}"


def _check_representation(representation: ET.Element, period_id: str, announced: Announced, name: str) -> None:
    rep_id = representation.get("id")
    template = representation.find("d:SegmentTemplate", NS)
    if template is None:
        template = representation.find("../d:SegmentTemplate", NS)
    assert template is not None, f"{name}: Representation {rep_id} without SegmentTemplate"
    offset = template.get("presentationTimeOffset", "0")
    earlier = announced.offsets.setdefault((period_id, rep_id), offset)
    assert offset == earlier, f"{name}: Period {period_id} {rep_id} presentationTimeOffset {earlier} → {offset}"
    number = int(template.get("startNumber", "1"))
    entries = template.findall("d:SegmentTimeline/d:S", NS)
    if entries:
        assert entries[0].get("t") is not None, f"{name}: {rep_id}'s timeline starts without S@t"
    t = None
    for entry in entries:
        d = int(entry.get("d"))
        t = int(entry.get("t")) if entry.get("t") is not None else t
        for _ in range(int(entry.get("r", "0")) + 1):
            key = (period_id, rep_id, number)
            before = announced.segments.setdefault(key, (t, d))
            assert before == (t, d), f"{name}: {rep_id} segment {number} (t, d) {before} → {(t, d)}"
            number += 1
            t += d
    # numbers never go back: what left the timeline left at its front
    later = [n for (period, rep, n) in announced.segments if (period, rep) == (period_id, rep_id) and n >= number]
    assert not later, f"{name}: {rep_id} segments {sorted(later)} were announced, then left the end of the timeline"


class MpdWatch:
    """A live MPD fetched again and again (`poll`), each new version checked against the
    earlier ones. Problems are collected, not raised, so a fixture can watch while it does
    other things and a test can assert on `problems` afterwards."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.client = client
        self.url = url
        self.announced = Announced()
        self.texts: list[str] = []
        self.problems: list[str] = []

    def poll(self) -> str | None:
        """Fetch once; the MPD's text, or None if it is not served (yet, or any more)."""
        response = self.client.get(self.url)
        if response.status_code != 200:
            return None
        if not self.texts or response.text != self.texts[-1]:
            self.texts.append(response.text)
            try:
                check_mpd(ET.fromstring(response.text), self.announced, f"MPD #{len(self.texts) - 1} of {self.url}")
            except (AssertionError, ET.ParseError) as problem:
                self.problems.append(str(problem))
        return response.text

    def assert_conformant(self, refreshes: int = 2) -> None:
        assert not self.problems, self.problems
        assert self.announced.refreshes >= refreshes, f"{self.url}: {self.announced.refreshes} MPD version(s) seen"


def watch_mpd(client: httpx.Client, url: str, *, seconds: float = 4.0, every: float = 0.25) -> MpdWatch:
    """Fetch a live MPD every `every` s for `seconds` s; the watch holds what was seen."""
    watch = MpdWatch(client, url)
    deadline = time.monotonic() + seconds
    while True:
        watch.poll()
        if time.monotonic() >= deadline:
            return watch
        time.sleep(every)
