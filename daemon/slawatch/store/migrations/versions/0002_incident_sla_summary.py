"""Incident SLA summary: the earliest due time and a breached flag, kept by each evaluation.

They let the queue, the Prometheus gauges and the sd_notify STATUS line count due and breached
incidents with one indexed query instead of recomputing 100,000 clocks. Existing rows start
with no due time and not breached; the daemon's full recompute at start fills them in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("breached", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("breached")
        batch_op.drop_column("due_at")
