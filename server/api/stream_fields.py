"""The configurable fields of a stream, with Gcore's types, defaults and ranges.

Create takes them flat; update takes the same fields wrapped as `{"stream": {...}}` and
changes only the fields it names (`srt_passphrase: null` clears the passphrase).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from server.api.column_ints import Int32, Int64

PULL_SCHEMES = ("rtmp", "rtmps", "srt", "http", "https", "rtsp")
# libsrt takes at most 79 characters (Gcore documents 80; an 80th would be refused on connect).
SRT_PASSPHRASE = re.compile(r"[!-~]{10,79}")

Projection = Literal["regular", "vr360", "vr180", "vr360tb"]
RecordType = Literal["origin", "transcoded"]
DvrDuration = Annotated[int, Field(ge=30, le=14400)]
Name = Annotated[str, Field(min_length=1, max_length=255)]


def check_pull_uri(uri: str | None) -> str | None:
    """One or more space-separated source URLs, each with a pull scheme and a host."""
    if uri is None:
        return None
    urls = uri.split()
    if not urls:
        raise ValueError("must hold at least one URL")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme.lower() not in PULL_SCHEMES:
            raise ValueError(f"{url!r}: scheme must be one of {', '.join(PULL_SCHEMES)}")
        if not parts.hostname:
            raise ValueError(f"{url!r}: has no host")
    return " ".join(urls)


def check_srt_passphrase(value: str | None) -> str | None:
    if value is not None and not SRT_PASSPHRASE.fullmatch(value):
        raise ValueError("must be 10-79 printable ASCII characters without whitespace (the SRT limit)")
    return value


class StreamFieldChecks(BaseModel):
    """The checks of a stream's URL-like fields, for create and update alike."""

    @field_validator("uri", check_fields=False)
    @classmethod
    def _valid_uri(cls, value: str | None) -> str | None:
        return check_pull_uri(value)

    @field_validator("srt_passphrase", check_fields=False)
    @classmethod
    def _valid_passphrase(cls, value: str | None) -> str | None:
        return check_srt_passphrase(value)


class StreamCreate(StreamFieldChecks):
    """Every field with Gcore's default."""

    name: Name
    active: bool = True
    auto_record: bool = False
    broadcast_ids: list[int] = Field(default_factory=list)
    cdn_id: Int32 | None = None
    client_entity_data: str | None = Field(default=None, max_length=65536)
    client_user_id: Int64 | None = None
    dvr_duration: DvrDuration = 3600
    dvr_enabled: bool = False
    hls_mpegts_endlist_tag: bool = True
    html_overlay: bool = False
    projection: Projection = "regular"
    pull: bool = False
    quality_set_id: Int32 | None = None
    record_type: RecordType = "origin"
    srt_passphrase: str | None = None
    uri: str | None = None


class StreamChanges(StreamFieldChecks):
    """Every field optional; only the fields present in the body are applied."""

    name: Name | None = None
    active: bool | None = None
    auto_record: bool | None = None
    broadcast_ids: list[int] | None = None
    cdn_id: Int32 | None = None
    client_entity_data: str | None = Field(default=None, max_length=65536)
    client_user_id: Int64 | None = None
    dvr_duration: DvrDuration | None = None
    dvr_enabled: bool | None = None
    hls_mpegts_endlist_tag: bool | None = None
    html_overlay: bool | None = None
    projection: Projection | None = None
    pull: bool | None = None
    quality_set_id: Int32 | None = None
    record_type: RecordType | None = None
    srt_passphrase: str | None = None
    uri: str | None = None

    def changes(self) -> dict[str, Any]:
        """Fields the client sent; a null means "clear" only where the column is nullable."""
        sent = self.model_dump(include=self.model_fields_set)
        return {k: v for k, v in sent.items() if v is not None or k in NULLABLE}


NULLABLE = {"cdn_id", "client_entity_data", "client_user_id", "quality_set_id", "srt_passphrase", "uri"}


class StreamUpdate(BaseModel):
    stream: StreamChanges
