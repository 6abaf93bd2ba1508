"""The control API under /streaming, wire-compatible with the Gcore Streaming API."""
