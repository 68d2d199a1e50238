"""Alembic environment: runs on the connection :mod:`slawatch.store.migrate` hands over.

Users never need an ``alembic.ini``; the runner builds the Alembic config in code and puts the
(already locked) connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from slawatch.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `slawatch db upgrade` (slawatch.store.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
