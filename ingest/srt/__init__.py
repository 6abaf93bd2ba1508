"""SRT ingest through libsrt: one UDP listener for every stream, callers routed by streamid."""
