"""Headwater packager package."""
