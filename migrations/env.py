"""Alembic environment: the URL comes from the caller (server.db.migrate) or alembic.ini."""

from alembic import context
from sqlalchemy import create_engine, event, pool

from server.db.engine import sync_url
from server.db.models import Base

config = context.config
target_metadata = Base.metadata
# Nodes sharing one PostgreSQL start together and each upgrades it: they take turns on this
# lock (held until the transaction ends), so the second reads the version the first wrote.
MIGRATION_LOCK = 0x48454144  # "HEAD"


def run_migrations_offline() -> None:
    context.configure(
        url=sync_url(config.get_main_option("sqlalchemy.url")),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_foreign_keys_off(dbapi_connection, _record) -> None:
    """SQLite's own procedure for schema changes: foreign keys off, change, then check.

    Changing a table on SQLite means rebuilding it (batch mode: copy, drop, rename), and with
    foreign keys on, dropping `streams` would run its ON DELETE actions: every overlay gone,
    every video's stream_id nulled. The pragma cannot change inside a transaction: set it as
    the connection opens."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def run_migrations_online() -> None:
    engine = create_engine(sync_url(config.get_main_option("sqlalchemy.url")), poolclass=pool.NullPool)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        event.listen(engine, "connect", _sqlite_foreign_keys_off)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            if not sqlite:
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
