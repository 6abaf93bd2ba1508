"""RTMP/RTMPS ingest: a hand-written asyncio server for publishers (OBS, ffmpeg)."""

from ingest.rtmp.server import RtmpServer

__all__ = ["RtmpServer"]
