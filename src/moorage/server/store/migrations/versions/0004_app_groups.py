"""app groups: a private network between apps, with names (k8s Service names) as aliases

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("group", sa.String(length=63), nullable=True))
        batch.add_column(sa.Column("aliases", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("aliases")
        batch.drop_column("group")
