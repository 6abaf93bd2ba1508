"""Headwater ingest package."""
