"""Column types shared by the models.

:class:`UTCDateTime` is why "the DB stores UTC" holds on both backends: SQLite has no time
zones and PostgreSQL's ``timestamptz`` returns the session's zone, so values are normalised to
UTC on the way in and handed back as aware UTC datetimes on the way out. Naive datetimes are
refused: a naive value here is a bug upstream, and guessing its zone would corrupt the history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC (``timestamptz`` on PostgreSQL, text on SQLite)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the database; pass an aware datetime")
        utc = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite compares the stored text; one fixed format keeps ordering correct.
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
