"""Storage adapter: SQLAlchemy models, the engine, Alembic migrations and repositories.

The database is the source of truth for accounts, incidents, their event history and the
notification outbox. Every datetime stored is UTC; every datetime returned is timezone-aware.
"""
