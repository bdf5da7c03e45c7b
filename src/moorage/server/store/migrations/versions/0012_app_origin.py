"""apps remember the import that made them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("origin", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("origin")
