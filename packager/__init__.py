"""Headwater packager: encoded packets in, CMAF / LL-HLS / low-latency DASH files out.

Entry point: `packager.live.LiveOutput` (+ `PackagerConfig`); `packager.boundaries.
SegmentBoundaries` is shared with the MPEG-TS segmenter. Files under `PackagerConfig.out_dir`:

    master.m3u8, index.mpd
    <rendition>/init.mp4            (init_<n>.mp4 after the n-th discontinuity)
    <rendition>/seg_<N>.m4s         segment N (from 0), its parts appended as they are made;
                                    part M (from 0) is one moof+mdat, a byte range of it,
                                    served by the node as <rendition>/seg_<N>.<M>.m4s
    <rendition>/index.m3u8          LL-HLS media playlist; the audio track is "audio"

Modules, by concept: `boundaries` (where segments start), `isobmff` (box headers, init
segment, codec strings), `moof` (a part's frames written as one fragment, and read back),
`cmaf` (frames to fragments; the init segment from PyAV's mp4 muxer), `window` (segment/part
bookkeeping and deletion), `hls` and `dash` (playlist / MPD text, pure), `manifests` (their
inputs from the tracks' state), `track` (one track's files), `live` (orchestration) with
`media_timeline` (the shared timeline), `segment_decisions` (which fragment starts a segment,
for every track), `audio_hold` (audio before the first video boundary) and `publishing`
(events, playlists, MPD), `atomic` (file writes: atomic rewrites, growing segments).
HLS over MPEG-TS: `ts_output` (one TS rendition's segments), `ts_mux` (the muxer), `ts_packet`
(packet headers, CRC), `ts_playlist` (its playlists). Nothing here imports `server`, `ingest`,
`transcode` or the DB.
"""
