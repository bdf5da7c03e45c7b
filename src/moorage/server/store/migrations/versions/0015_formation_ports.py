"""formation ports: Service ports the group reaches, mapped to the ports processes listen on

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("formations", sa.Column("ports", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("formations") as batch:
        batch.drop_column("ports")
