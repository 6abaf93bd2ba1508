"""Videos (recording results) through the Gcore SDK; rows are made the way the recorder will."""

from __future__ import annotations

import gcore
import pytest
from gcore import Gcore


def test_list_get_update_delete(client: Gcore, video_ids, http):
    first, second = video_ids
    video = client.streaming.videos.get(first)
    assert video.name == "Stream recorded part 1" and video.status == "ready"
    assert video.duration == 4000 and video.hls_url.endswith(f"/videos/{first}/master.m3u8")
    assert client.streaming.videos.get(second).hls_url is None

    listed = [v.id for v in client.streaming.videos.list()]
    assert listed[:2] == [second, first]
    assert [v["id"] for v in http.get("/streaming/videos", params={"status": "pending"}).json()][:1] == [second]

    renamed = client.streaming.videos.update(first, name="Final cut", description="the keynote")
    assert renamed.name == "Final cut" and renamed.description == "the keynote"

    client.streaming.videos.delete(second)
    with pytest.raises(gcore.NotFoundError):
        client.streaming.videos.get(second)


def test_update_rejects_empty_name(http, video_ids):
    response = http.patch(f"/streaming/videos/{video_ids[0]}", json={"name": ""})
    assert response.status_code == 422 and "name" in response.json()["errors"]
