"""Fixtures shared by every test package: databases and running nodes."""

from __future__ import annotations

import pytest

from tests.support.node import Node
from tests.support.postgres import PostgresServer
from tests.support.seaweedfs import SeaweedServer

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """SeaweedFS on 127.0.0.1 (the test extra installs it): each test makes its own bucket."""
    server = SeaweedServer().start()
    yield server
    server.stop()


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """An empty database of the backend named by the test's `backend` parameter."""
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        return request.getfixturevalue("postgres_server").create_database()
    return f"sqlite:///{tmp_path / 'headwater.db'}"


@pytest.fixture(scope="module", params=BACKENDS)
def api_node(request, tmp_path_factory):
    """One node per backend for a module of API tests (the API itself is stateless)."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database()
    node = Node(tmp_path_factory.mktemp(f"node-{request.param}"), database_url=url).start()
    yield node
    node.stop()
