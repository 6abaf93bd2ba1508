"""API tests drive a real node through the official Gcore Python SDK."""

from __future__ import annotations

import httpx
import pytest
from gcore import Gcore


@pytest.fixture
def client(api_node) -> Gcore:
    return Gcore(api_key=api_node.api_key, base_url=api_node.base_url, max_retries=0)


@pytest.fixture
def http(api_node):
    with httpx.Client(base_url=api_node.base_url, headers=api_node.headers, timeout=10) as c:
        yield c
