"""Gcore-style webhooks that are never lost: events written to an outbox table in the
transaction of the state change they report (`outbox.py`), delivered in order per entity,
retried and signed by one task on the node (`delivery.py`, `signing.py`)."""
