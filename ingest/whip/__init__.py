"""WHIP sources: an aiortc peer connection answering the publisher's offer, its media remuxed to MPEG-TS."""
