"""Initial schema: streams, overlays, quality sets with their renditions, videos, node settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# (name, kind, is_default, [(name, width, height, video kbit/s, audio kbit/s, max fps)])
BUILT_IN_QUALITY_SETS = [
    ("origin", "live", True, []),
    (
        "abr_1080p",
        "live",
        False,
        [
            ("1080p", 1920, 1080, 6000, 128, 30),
            ("720p", 1280, 720, 3000, 128, 30),
            ("480p", 854, 480, 1500, 96, 30),
            ("360p", 640, 360, 800, 96, 30),
        ],
    ),
    (
        "abr_720p",
        "live",
        False,
        [
            ("720p", 1280, 720, 3000, 128, 30),
            ("480p", 854, 480, 1500, 96, 30),
            ("360p", 640, 360, 800, 96, 30),
        ],
    ),
    (
        "abr_480p",
        "live",
        False,
        [("480p", 854, 480, 1500, 96, 30), ("360p", 640, 360, 800, 96, 30)],
    ),
    (
        "vod_default",
        "vod",
        True,
        [
            ("1080p", 1920, 1080, 6000, 128, 30),
            ("720p", 1280, 720, 3000, 128, 30),
            ("480p", 854, 480, 1500, 96, 30),
            ("360p", 640, 360, 800, 96, 30),
        ],
    ),
]


def upgrade() -> None:
    op.create_table(
        "node_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    quality_sets = op.create_table(
        "quality_sets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
    )
    qualities = op.create_table(
        "qualities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "quality_set_id",
            sa.Integer(),
            sa.ForeignKey("quality_sets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("video_bitrate", sa.Integer(), nullable=False),
        sa.Column("audio_bitrate", sa.Integer(), nullable=False),
        sa.Column("max_frame_rate", sa.Float(), nullable=False),
    )
    op.create_table(
        "streams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("pull", sa.Boolean(), nullable=False),
        sa.Column("uri", sa.Text()),
        sa.Column("dvr_enabled", sa.Boolean(), nullable=False),
        sa.Column("dvr_duration", sa.Integer(), nullable=False),
        sa.Column("auto_record", sa.Boolean(), nullable=False),
        sa.Column("record_type", sa.String(16), nullable=False),
        sa.Column("projection", sa.String(16), nullable=False),
        sa.Column("html_overlay", sa.Boolean(), nullable=False),
        sa.Column("hls_mpegts_endlist_tag", sa.Boolean(), nullable=False),
        sa.Column(
            "quality_set_id",
            sa.Integer(),
            sa.ForeignKey("quality_sets.id", ondelete="SET NULL"),
        ),
        sa.Column("client_user_id", sa.BigInteger()),
        sa.Column("client_entity_data", sa.Text()),
        sa.Column("srt_passphrase", sa.String(80)),
        sa.Column("broadcast_ids", sa.JSON(), nullable=False),
        sa.Column("cdn_id", sa.Integer()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("backup_live", sa.Boolean(), nullable=False),
        sa.Column("stream_source_type", sa.String(8)),
        sa.Column("started_at_primary", sa.DateTime(timezone=True)),
        sa.Column("started_at_backup", sa.DateTime(timezone=True)),
        sa.Column("finished_at_primary", sa.DateTime(timezone=True)),
        sa.Column("transcoding_speed", sa.Float()),
        sa.Column("frame_rate", sa.Float()),
        sa.Column("video_width", sa.Integer()),
        sa.Column("video_height", sa.Integer()),
        sa.Column("transcoded_qualities", sa.JSON(), nullable=False),
        sa.Column("recording_duration", sa.Float()),
        sa.Column("recording_video_id", sa.Integer()),
    )
    op.create_table(
        "overlays",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "stream_id",
            sa.Integer(),
            sa.ForeignKey("streams.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("x", sa.Integer()),
        sa.Column("y", sa.Integer()),
        sa.Column("stretch", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column(
            "stream_id",
            sa.Integer(),
            sa.ForeignKey("streams.id", ondelete="SET NULL"),
            index=True,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duration", sa.Integer()),
        sa.Column("origin_size", sa.BigInteger()),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("record_type", sa.String(16)),
        sa.Column("projection", sa.String(16), nullable=False),
        sa.Column("recording_started_at", sa.DateTime(timezone=True)),
        sa.Column("client_user_id", sa.BigInteger()),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    _seed_quality_sets(quality_sets, qualities)


def _seed_quality_sets(quality_sets: sa.Table, qualities: sa.Table) -> None:
    set_rows, quality_rows = [], []
    for set_id, (name, kind, is_default, rungs) in enumerate(BUILT_IN_QUALITY_SETS, start=1):
        set_rows.append({"id": set_id, "name": name, "kind": kind, "is_default": is_default})
        for position, (q_name, width, height, vbr, abr, fps) in enumerate(rungs):
            quality_rows.append(
                {
                    "quality_set_id": set_id,
                    "position": position,
                    "name": q_name,
                    "width": width,
                    "height": height,
                    "video_bitrate": vbr,
                    "audio_bitrate": abr,
                    "max_frame_rate": fps,
                }
            )
    op.bulk_insert(quality_sets, set_rows)
    op.bulk_insert(qualities, quality_rows)
    if op.get_bind().dialect.name == "postgresql":
        # Explicit ids above leave the sequence behind; move it past them.
        op.execute("SELECT setval('quality_sets_id_seq', (SELECT max(id) FROM quality_sets))")


def downgrade() -> None:
    for table in ("videos", "overlays", "streams", "qualities", "quality_sets", "node_settings"):
        op.drop_table(table)
