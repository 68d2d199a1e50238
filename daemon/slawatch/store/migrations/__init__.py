"""Alembic migrations, shipped as package data and run by :mod:`slawatch.store.migrate`."""
