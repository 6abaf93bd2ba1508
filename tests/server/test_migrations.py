"""Alembic upgrade and downgrade run clean on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from server.db.engine import sync_url
from server.db.migrate import downgrade, upgrade

TABLES = {"streams", "overlays", "quality_sets", "qualities", "videos", "node_settings"}


def tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_upgrade_downgrade_upgrade(database_url):
    upgrade(database_url)
    assert tables(database_url) == TABLES
    engine = create_engine(sync_url(database_url))
    with engine.begin() as connection:
        assert connection.scalar(text("select count(*) from quality_sets")) == 5
        connection.execute(text("insert into quality_sets (name, kind, is_default) values ('mine', 'live', false)"))
        assert connection.scalar(text("select max(id) from quality_sets")) == 6
    engine.dispose()
    downgrade(database_url)
    assert tables(database_url) == set()
    upgrade(database_url)
    assert tables(database_url) == TABLES
