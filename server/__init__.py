"""Headwater server package."""
