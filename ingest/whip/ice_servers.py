"""STUN and TURN servers for WHIP sessions: what the node's ICE agent asks for its
server-reflexive (STUN) and relayed (TURN) candidates, and what a WHIP answer advertises to
the publisher in `Link: <url>; rel="ice-server"` headers (RFC 9725 §4.6).

Written as WebRTC's `iceServers` (a JSON list of `{"urls", "username", "credential"}`) or, for
servers without credentials, as URLs separated by commas. aioice uses the first STUN and the
first TURN server (UDP or TCP; `turns:` over TCP) of the list; the answer advertises them all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

URL = re.compile(r"^(stun|stuns|turn|turns):[^\s?:/@]+(:\d{1,5})?(\?transport=(udp|tcp))?$")


@dataclass(frozen=True)
class IceServer:
    url: str
    username: str | None = None
    credential: str | None = None

    @property
    def is_turn(self) -> bool:
        return self.url.startswith("turn")

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "username": self.username, "credential": self.credential}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IceServer:
        return cls(data["url"], data.get("username"), data.get("credential"))

    def link(self) -> str:
        """This server as one RFC 9725 link value (credentials for TURN only)."""
        value = f'<{self.url}>; rel="ice-server"'
        if self.is_turn and self.username is not None and self.credential is not None:
            value += f'; username="{_quoted(self.username)}"; credential="{_quoted(self.credential)}"'
            value += '; credential-type="password"'
        return value


def parse_ice_servers(text: str) -> tuple[IceServer, ...]:
    """The servers `text` names; ValueError saying why otherwise."""
    text = text.strip()
    if text.startswith("["):
        entries = json.loads(text)
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValueError('ICE servers in JSON are a list of {"urls", "username", "credential"} objects')
        servers = [server for entry in entries for server in _from_entry(entry)]
    else:
        servers = [IceServer(url.strip()) for url in text.split(",") if url.strip()]
    for server in servers:
        if not URL.match(server.url):
            raise ValueError(
                f"ICE server {server.url!r}: want stun:HOST[:PORT] or turn:HOST[:PORT][?transport=udp|tcp]"
            )
        if server.is_turn and (server.username is None or server.credential is None):
            raise ValueError(f"TURN server {server.url!r} needs a username and a credential (JSON form)")
    return tuple(servers)


def _from_entry(entry: dict[str, Any]) -> list[IceServer]:
    urls = entry.get("urls")
    urls = [urls] if isinstance(urls, str) else urls
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ValueError(f"ICE server entry without urls: {sorted(entry)}")
    username, credential = entry.get("username"), entry.get("credential")
    return [IceServer(url, username, credential) for url in urls]


def link_header(servers: tuple[IceServer, ...] | list[IceServer]) -> str:
    """One `Link` header value advertising every server (RFC 8288 allows a comma-separated list)."""
    return ", ".join(server.link() for server in servers)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
