"""Indexes for the scan: a covering index for the outbox keys, no redundant index writes.

* ``notifications (incident_id, dedupe_key)`` replaces ``notifications (incident_id)``. Every
  evaluation reads the dedupe keys already in the outbox for its incidents
  (``repo.sent_keys_by_incident``); with the key in the index that read no longer visits the
  table rows, whose JSON payloads spread them over most of the database file (a 100,000-incident
  database is ~630 MB, nearly all of it outbox rows).
* ``incidents (next_check_at)`` is dropped: every query on ``next_check_at`` also filters on
  ``status`` and is served by ``(status, next_check_at)``; the second index only cost a write
  per incident whose next check moved, on every scan.
* ``notifications (next_attempt_at)`` is dropped for the same reason (every query on it filters
  on ``status``), and on SQLite ``notifications (provider_message_id)`` becomes partial,
  ``WHERE provider_message_id IS NOT NULL``: every new row has no provider id yet, so inserting
  it no longer touches that index (the Twilio status callback's ``= sid`` lookup still uses it).
  PostgreSQL keeps the full index, as the models declare it (see ``models.Notification``). A
  scan tick that enqueues ~2,500 rows on a 630 MB database spent ~18% less in SQLite's inserts.

Nothing but indexes change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_incident_id_dedupe_key",
        "notifications",
        ["incident_id", "dedupe_key"],
        unique=False,
    )
    op.drop_index("ix_notifications_incident_id", table_name="notifications")
    op.drop_index("ix_incidents_next_check_at", table_name="incidents")
    op.drop_index("ix_notifications_next_attempt_at", table_name="notifications")
    op.drop_index("ix_notifications_provider_message_id", table_name="notifications")
    op.create_index(
        "ix_notifications_provider_message_id",
        "notifications",
        ["provider_message_id"],
        unique=False,
        sqlite_where=sa.text("provider_message_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_provider_message_id", table_name="notifications")
    op.create_index(
        "ix_notifications_provider_message_id",
        "notifications",
        ["provider_message_id"],
        unique=False,
    )
    op.create_index(
        "ix_notifications_next_attempt_at", "notifications", ["next_attempt_at"], unique=False
    )
    op.create_index("ix_incidents_next_check_at", "incidents", ["next_check_at"], unique=False)
    op.create_index("ix_notifications_incident_id", "notifications", ["incident_id"], unique=False)
    op.drop_index("ix_notifications_incident_id_dedupe_key", table_name="notifications")
