"""Restreams: the stream's origin forwarded, without re-encoding, to rtmp://, rtmps:// and srt://
targets from inside its worker (`job.Restreams`, one `target.RestreamTarget` thread each)."""
