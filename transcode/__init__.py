"""Headwater transcode package."""
