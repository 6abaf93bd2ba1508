"""PULL sources: the worker opens the operator's URLs itself (HLS, RTMP, RTSP with PyAV; SRT with libsrt)."""
