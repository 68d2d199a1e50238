"""The scan's hot statements, run on the DBAPI cursor of the session's own connection.

Why this exists: in the daemon's scan (a tick over the due incidents, the full recompute of
every open incident at start and after a reload) SQLAlchemy's own per-statement and per-value
work (bind and result processors, expanding ``IN`` lists, row objects) cost more than SQLite
itself, about a third of the full recompute. The few statements the scan runs for every
incident are written here once per dialect and executed on the DBAPI cursor; everything else
in the store keeps using SQLAlchemy.

What a caller must know:

* The cursor belongs to the connection the session is using, so these statements run inside
  the session's transaction (the session must have begun it: :class:`Raw` calls
  ``session.connection()``). Do not mix them with ORM objects of the same rows in one session.
* Values keep :class:`slawatch.store.types.UTCDateTime`'s guarantees, converted explicitly:
  datetimes come out aware in UTC and go in as UTC (on SQLite as naive UTC text in
  SQLAlchemy's fixed ``YYYY-MM-DD HH:MM:SS.ffffff`` format, which keeps text comparisons in
  time order); naive datetimes are refused. Booleans come out as ``bool``, JSON columns as
  Python values. ``tests/store/test_rawsql.py`` checks every conversion against SQLAlchemy's
  on SQLite and PostgreSQL.
* Placeholders are written ``?`` and become ``%s`` on PostgreSQL (psycopg); the SQL here
  contains no other ``?`` or ``%``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

__all__ = [
    "Raw",
    "aware_utc",
    "dialect_insert",
    "pg_json_out",
    "pg_time_in",
    "pg_time_out",
    "sqlite_json_out",
    "sqlite_time_in",
    "sqlite_time_out",
]


def sqlite_time_out(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            # SQLAlchemy's naive-UTC text: parse it as UTC in one call (several times
            # cheaper than parsing and then ``replace(tzinfo=UTC)``).
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            value = datetime.fromisoformat(value)  # text with an offset of its own
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


def pg_time_out(value: Any) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


def aware_utc(value: datetime) -> datetime:
    """``value`` in UTC; naive or non-datetime values refused as :class:`UTCDateTime` does."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to the database; pass an aware datetime")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def sqlite_time_in(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite storage format for ``value`` in UTC: ``YYYY-MM-DD HH:MM:SS.ffffff``
    (always with microseconds, so stored texts compare in time order)."""
    if value is None:
        return None
    utc = aware_utc(value)
    text = utc.isoformat(" ")[:-6]  # without the "+00:00"
    return text if utc.microsecond else text + ".000000"


def pg_time_in(value: datetime | None) -> datetime | None:
    return None if value is None else aware_utc(value)


def sqlite_json_out(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def pg_json_out(value: Any) -> Any:
    return value


class Raw:
    """A DBAPI cursor on ``session``'s connection plus the dialect's value converters.

    Create one per use (it is cheap); :meth:`close` it, or use it as a context manager.
    """

    __slots__ = ("cursor", "dt_in", "dt_out", "json_in", "json_out", "postgres")

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.postgres = connection.dialect.name == "postgresql"
        self.cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self.dt_out: Callable[[Any], datetime | None]
        self.dt_in: Callable[[datetime | None], Any]
        self.json_out: Callable[[Any], Any]
        self.json_in: Callable[[Any], Any]
        if self.postgres:
            from psycopg.types.json import Json

            self.dt_out, self.dt_in = pg_time_out, pg_time_in
            self.json_out, self.json_in = pg_json_out, Json
        else:
            self.dt_out, self.dt_in = sqlite_time_out, sqlite_time_in
            self.json_out, self.json_in = sqlite_json_out, json.dumps

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.cursor.close()

    def sql(self, text: str) -> str:
        """``text`` with the dialect's placeholders."""
        return text.replace("?", "%s") if self.postgres else text

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A ``column IN (...)`` condition for ``values`` and its parameters (``= ANY(%s)``
        with one array on PostgreSQL; one ``?`` per value on SQLite, so keep lists to a few
        thousand)."""
        if self.postgres:
            return f"{column} = ANY(?)", [list(values)]
        if not values:
            return "1 = 0", []
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def fetch(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cursor.execute(self.sql(text), params)
        return list(self.cursor.fetchall())

    def execute(self, text: str, params: Sequence[Any] = ()) -> None:
        """Run a statement that returns no rows."""
        self.cursor.execute(self.sql(text), params)

    def execute_many(self, text: str, rows: Iterable[Sequence[Any]]) -> None:
        self.cursor.executemany(self.sql(text), list(rows))


def dialect_insert(session: Session) -> Any:
    """``insert`` of the session's dialect (for ``ON CONFLICT DO NOTHING``), imported on use:
    the PostgreSQL dialect is ~27 modules a SQLite daemon would otherwise load at start."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert
