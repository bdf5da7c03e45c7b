"""custom domains remember when DNS proved their owner

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # domains added before were never proven: they keep routing while no one proves them
    op.add_column("domains", sa.Column("verified_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("domains") as batch:
        batch.drop_column("verified_at")
