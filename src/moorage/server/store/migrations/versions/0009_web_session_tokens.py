"""dashboard sessions remember the API token they were made with

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # sessions made before knew no token: they end (their users log in again)
    op.execute("DELETE FROM web_sessions")
    op.add_column("web_sessions", sa.Column("token_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("token_id")
