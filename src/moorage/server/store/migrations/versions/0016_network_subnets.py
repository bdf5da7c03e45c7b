"""network subnets: the platform allocates each network's subnet from its own pool

Networks made before keep the subnets Docker gave them; only new ones are recorded here.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_subnets",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("subnet", sa.String(43), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("network_subnets")
