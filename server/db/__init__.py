"""Database access: engine, tables, and one repository module per resource (streams,
overlays, quality sets, videos, node settings) holding every query the node runs."""
