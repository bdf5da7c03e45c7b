"""dyno lifecycle: restarts, health checks, release phase, drains, schedules

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("restarts", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("oneoff_seq", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("formations") as batch:
        batch.add_column(sa.Column("check_path", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("boot_timeout", sa.Integer(), nullable=True))
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("commands", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("release_command", sa.Text(), nullable=True))
    op.create_table(
        "drains",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("token", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "url"),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("size", sa.String(length=30), nullable=False),
        sa.Column("concurrency", sa.String(length=10), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("schedules")
    op.drop_table("drains")
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("release_command")
        batch.drop_column("commands")
    with op.batch_alter_table("formations") as batch:
        batch.drop_column("boot_timeout")
        batch.drop_column("check_path")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("oneoff_seq")
        batch.drop_column("restarts")
