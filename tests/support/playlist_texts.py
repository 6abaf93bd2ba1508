"""Whole media playlist texts from a worker's `playlist` events, which carry updates
(`packager/playlist_text.py`): tests that read a playlist as the node serves it use this."""

from __future__ import annotations

from packager.hls import Entry
from packager.playlist_text import MediaPlaylistText, PlaylistUpdate


class PlaylistTexts:
    """Keeps every media playlist from its updates, as the node does."""

    def __init__(self) -> None:
        self.playlists: dict[str, MediaPlaylistText] = {}

    def with_text(self, event: dict) -> dict:
        """The event, a `playlist` one with the playlist's whole `text` (and `delta`: its delta
        update or None) after it is applied."""
        if event.get("event") != "playlist":
            return event
        playlist = self.playlists.setdefault(event["path"], MediaPlaylistText())
        playlist.update(update_of(event))
        delta = playlist.delta()
        return {**event, "text": playlist.full().decode(), "delta": delta.decode() if delta else None}


def update_of(event: dict) -> PlaylistUpdate:
    return PlaylistUpdate(
        event["header"],
        event["first_msn"],
        [Entry.from_plain(entry) for entry in event["entries"]],
        event["tail"],
        event["tail_duration"],
        event["can_skip_until"],
        event["fresh"],
    )


def with_texts(events: list[dict]) -> list[dict]:
    texts = PlaylistTexts()
    return [texts.with_text(event) for event in events]
