"""Database access: engine, tables and the few queries the node needs."""
