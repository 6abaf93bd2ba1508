"""API tests drive a real node through the official Gcore Python SDK."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from gcore import Gcore
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from server.db.engine import sync_url
from server.db.models import Video


@pytest.fixture
def client(api_node) -> Gcore:
    return Gcore(api_key=api_node.api_key, base_url=api_node.base_url, max_retries=0)


@pytest.fixture
def http(api_node):
    with httpx.Client(base_url=api_node.base_url, headers=api_node.headers, timeout=10) as c:
        yield c


@pytest.fixture
def video_ids(api_node, client: Gcore) -> list[int]:
    """A ready and a pending video of a new stream, made the way the recorder will."""
    stream = client.streaming.streams.create(name="recorded")
    engine = create_engine(sync_url(api_node.database_url))
    with Session(engine) as db:
        videos = [
            Video(
                name="Stream recorded part 1",
                stream_id=stream.id,
                status="ready",
                duration=4000,
                width=1280,
                height=720,
                record_type="origin",
                origin_size=1000,
                recording_started_at=datetime.now(UTC),
            ),
            Video(name="Stream recorded part 2", stream_id=stream.id, status="pending"),
        ]
        db.add_all(videos)
        db.commit()
        ids = [v.id for v in videos]
    engine.dispose()
    return ids
