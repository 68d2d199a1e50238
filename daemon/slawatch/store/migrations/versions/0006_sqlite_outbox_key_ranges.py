"""On SQLite, look an incident's outbox rows up by key prefix: one index fewer per new row.

Every outbox row of an incident has a dedupe key that starts with ``"<incident id>|"``
(:func:`slawatch.core.delivery.dedupe_key`; a fallback row's key extends the key of the row it
falls back from). On SQLite the unique index on ``dedupe_key`` compares bytes, so an incident's
keys are one range of it, ``["<id>|", "<id>}")``, and that index alone serves both readers of
``notifications (incident_id, dedupe_key)``: the evaluation's read of the keys already in the
outbox (``repo.sent_keys_by_incident``) and ``incident show``
(``outbox.list_notifications(incident_id=...)``). The covering index is dropped there, which
spares every new row a random insert into a second index of the size of the key index. A scan
tick that enqueues ~2,800 rows on a 100,000-incident database spent about a quarter less in
writing them (``bench/README.md``).

PostgreSQL keeps the index: its text indexes order by the database's collation, in which the
keys of one incident need not be contiguous.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 20:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def upgrade() -> None:
    if _sqlite():
        op.drop_index("ix_notifications_incident_id_dedupe_key", table_name="notifications")


def downgrade() -> None:
    if _sqlite():
        op.create_index(
            "ix_notifications_incident_id_dedupe_key",
            "notifications",
            ["incident_id", "dedupe_key"],
            unique=False,
        )
