"""Incidents by status and id: the full recompute pages through open incidents in id order.

With only ``(status, next_check_at)`` each page (``repo.open_incident_ids``: open incidents
above an id, in id order, 500 at a time) read every open incident and sorted them: 14 ms a
page, 2.5-2.9 s of a 100,000-incident recompute, growing with the square of the count. With
``(status, id)`` a page reads its 500 index entries in order. Nothing but the index changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 14:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_incidents_status_id", "incidents", ["status", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_incidents_status_id", table_name="incidents")
