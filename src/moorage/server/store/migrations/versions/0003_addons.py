"""add-ons: attachments, credential rotation, verified backups and their schedule

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 14:00:00
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("addons") as batch:
        batch.add_column(sa.Column("url", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("retiring", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("backup_schedule", sa.JSON(), nullable=False, server_default="{}")
        )
        batch.add_column(sa.Column("backup_seq", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "addon_attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("addon_id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["addon_id"], ["addons.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "name"),
    )
    op.create_table(
        "backups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("addon_id", sa.String(length=36), nullable=False),
        sa.Column("num", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("verified", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("tables", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["addon_id"], ["addons.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("addon_id", "num"),
    )
    # every existing add-on: its URL from the config it set, attached to its app as DATABASE
    conn = op.get_bind()
    addons = sa.table(
        "addons",
        sa.column("id", sa.String),
        sa.column("app_id", sa.String),
        sa.column("config", sa.JSON),
        sa.column("url", sa.Text),
        sa.column("created_at", sa.DateTime),
    )
    attachments = sa.table(
        "addon_attachments",
        sa.column("id", sa.String),
        sa.column("addon_id", sa.String),
        sa.column("app_id", sa.String),
        sa.column("name", sa.String),
        sa.column("created_at", sa.DateTime),
        sa.column("updated_at", sa.DateTime),
    )
    for row in conn.execute(sa.select(addons)).mappings().all():
        config: dict[str, Any] = row["config"] or {}
        for var, url in sorted(config.items()):
            conn.execute(addons.update().where(addons.c.id == row["id"]).values(url=url))
            conn.execute(
                attachments.insert().values(
                    id=str(uuid.uuid4()),
                    addon_id=row["id"],
                    app_id=row["app_id"],
                    name=var.removesuffix("_URL"),
                    created_at=row["created_at"],
                    updated_at=row["created_at"],
                )
            )
            break
    with op.batch_alter_table("addons") as batch:
        batch.drop_column("config")


def downgrade() -> None:
    with op.batch_alter_table("addons") as batch:
        batch.add_column(sa.Column("config", sa.JSON(), nullable=False, server_default="{}"))
    op.drop_table("backups")
    op.drop_table("addon_attachments")
    with op.batch_alter_table("addons") as batch:
        batch.drop_column("backup_seq")
        batch.drop_column("backup_schedule")
        batch.drop_column("retiring")
        batch.drop_column("url")
