"""Alembic migrations; `headwater serve` upgrades the database to head on start."""
