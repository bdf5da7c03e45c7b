"""postgresql plans: followers, connection pools; ``basic`` is now called ``mini``

An attachment that is ``pooled`` puts the add-on's PgBouncer URL (its ``pool_port``) in
the app's config instead of the database's own.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("addons") as batch:
        batch.add_column(sa.Column("follows_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("pool_port", sa.Integer(), nullable=True))
    with op.batch_alter_table("addon_attachments") as batch:
        batch.add_column(
            sa.Column("pooled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _rename(":basic", ":mini")


def downgrade() -> None:
    _rename(":mini", ":basic")
    with op.batch_alter_table("addon_attachments") as batch:
        batch.drop_column("pooled")
    with op.batch_alter_table("addons") as batch:
        batch.drop_column("pool_port")
        batch.drop_column("follows_id")


def _rename(old: str, new: str) -> None:
    op.execute(
        sa.text(
            "UPDATE addons SET plan = replace(plan, :old, :new) WHERE plan LIKE :pattern"
        ).bindparams(old=old, new=new, pattern=f"%{old}")
    )
