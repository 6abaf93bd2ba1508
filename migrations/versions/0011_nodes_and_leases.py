"""nodes and leases: several nodes on one PostgreSQL (server/cluster/).

`nodes`: each node's id, public HTTP URL and heartbeat. `leases`: one holder per key (a live
stream's output) until an expiry on the database's clock.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("http_url", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_leases_node_id", "leases", ["node_id"])


def downgrade() -> None:
    op.drop_index("ix_leases_node_id", table_name="leases")
    op.drop_table("leases")
    op.drop_table("nodes")
