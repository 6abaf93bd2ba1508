"""Several nodes on one PostgreSQL: who is alive (`nodes`), who holds what (`leases`),
and this node among them (`cluster`). On SQLite the node is alone and leases are trivial."""
