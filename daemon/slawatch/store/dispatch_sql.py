"""The dispatcher's per-message statements as plain SQL on the DBAPI connection.

Why: the dispatcher claims, re-checks and records one row at a time. Through SQLAlchemy each of
those statements cost 0.2-0.5 ms of Python (cache key, execution context, parameter and result
processing, the ORM's bulk-update path) against about 0.02 ms in SQLite itself, which made
SQLAlchemy the largest part of the per-message overhead (issue 4). Here the few statements of
the hot path are written once per dialect and run on the DBAPI connection under a SQLAlchemy
``Connection``, inside the caller's transaction:

* :meth:`DispatchSQL.claim_next`: the next due row, ``pending -> sending`` with ``attempts``
  incremented, in one ``UPDATE ... RETURNING``; same order and guarantees as
  :func:`slawatch.store.outbox.claim_rows` with ``limit=1`` (urgent first, then
  ``next_attempt_at``, then id; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the SQLite write lock
  held by ``BEGIN IMMEDIATE`` otherwise);
* :meth:`DispatchSQL.recheck_view`: the incident for the re-check, with its account and events,
  and the stored thread reference for the address, in one select (as
  :func:`slawatch.store.repo.load_incident_views` plus :func:`slawatch.store.repo.get_thread_ref`);
* :meth:`DispatchSQL.mark_sent` and :meth:`DispatchSQL.remember_thread`: as
  :func:`slawatch.store.outbox.mark_sent` and :func:`slawatch.store.repo.set_thread_ref`.

What a caller must know:

* Column types are applied by hand (the converters of :mod:`slawatch.store.rawsql`, shared
  with the scan's raw statements), exactly as the models' types would: datetimes go in aware
  (naive ones are refused, as :class:`~slawatch.store.types.UTCDateTime` does) and are stored as
  UTC (on SQLite as naive-UTC text in SQLAlchemy's fixed ``YYYY-MM-DD HH:MM:SS.ffffff`` format,
  so text comparison stays chronological); they come back as aware UTC datetimes; booleans come
  back as ``bool`` and JSON columns as Python values.
* Only SQLite (``sqlite3``) and PostgreSQL (psycopg 3) are supported, the two backends of
  :class:`~slawatch.store.db.Database`. Each statement is written once with ``:name``
  parameters and turned into psycopg's ``%(name)s`` for PostgreSQL.
* Statements run on the SQLAlchemy ``Connection``'s DBAPI connection, in the transaction the
  caller began on it (``BEGIN IMMEDIATE`` on SQLite, from :mod:`slawatch.store.db`'s ``begin``
  hook); nothing here begins or commits. They bypass the ORM: give :class:`DispatchSQL` the
  session that shares the transaction, if any, and its pending changes are flushed before each
  statement and a loaded :class:`~slawatch.store.models.Notification` changed here is expired,
  as :mod:`slawatch.store.outbox` does.
* ``Database(echo=True)`` does not echo these statements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from slawatch.errors import NotFoundError
from slawatch.store.models import Notification
from slawatch.store.rawsql import (
    aware_utc,
    pg_json_out,
    pg_time_out,
    sqlite_json_out,
    sqlite_time_in,
    sqlite_time_out,
)
from slawatch.store.repo import AccountView, EventView, IncidentView


class ClaimedRow(NamedTuple):
    """A claimed outbox row: :data:`slawatch.store.outbox.CLAIM_COLUMNS` (``attempts`` already
    incremented)."""

    id: int
    dedupe_key: str
    kind: str
    incident_id: int | None
    account_id: str | None
    target: str | None
    stage: str
    step: str | None
    repetition: int
    recipient: str
    channel: str
    address: str | None
    urgent: bool
    attempts: int
    payload: dict[str, Any]


_RETURNING = (
    "id, dedupe_key, kind, incident_id, account_id, target, stage, step, repetition, "
    "recipient, channel, address, urgent, attempts, payload"
)

_DUE = (
    "status = 'pending' AND next_attempt_at <= :now AND (not_before IS NULL OR not_before <= :now)"
)

#: SQLite: the first due row of each urgency read from the (status, urgent, next_attempt_at)
#: index and merged (as outbox's claim does; the planner would otherwise sort every due row).
_CLAIM_SQLITE = f"""
UPDATE notifications SET status = 'sending', attempts = attempts + 1, updated_at = :now
WHERE status = 'pending' AND id = (
    SELECT id FROM (
        SELECT * FROM (
            SELECT id, urgent, next_attempt_at FROM notifications
            WHERE {_DUE} AND urgent = 1 ORDER BY next_attempt_at, id LIMIT 1
        )
        UNION ALL
        SELECT * FROM (
            SELECT id, urgent, next_attempt_at FROM notifications
            WHERE {_DUE} AND urgent = 0 ORDER BY next_attempt_at, id LIMIT 1
        )
    ) ORDER BY urgent DESC, next_attempt_at, id LIMIT 1
)
RETURNING {_RETURNING}
"""

#: PostgreSQL: the row is locked by the subquery (SKIP LOCKED: two dispatchers never wait for
#: or claim the same row) and claimed by the same statement.
_CLAIM_POSTGRESQL = f"""
UPDATE notifications SET status = 'sending', attempts = attempts + 1, updated_at = :now
WHERE status = 'pending' AND id = (
    SELECT id FROM notifications WHERE {_DUE}
    ORDER BY urgent DESC, next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING {_RETURNING}
"""

#: One row per event (one row with empty event columns when there is none), events in
#: (at, id) order; the thread reference as a scalar subquery.
_RECHECK = """
SELECT i.id, i.external_id, i.account_id, i.priority, i.opened_priority, i.via_hotline,
       i.assignee, i.opened_at, i.plan, i.status, i.last_evaluated_at, i.title,
       a.id, a.name, a.csm, a.calendar, a.sla_overrides,
       e.id, e.type, e.at, e.by, e.priority, e.text,
       (SELECT t.thread_ref FROM threads t
        WHERE t.incident_id = i.id AND t.channel = :channel AND t.address = :address)
FROM incidents i
LEFT JOIN accounts a ON a.id = i.account_id
LEFT JOIN incident_events e ON e.incident_id = i.id
WHERE i.id = :id
ORDER BY e.at, e.id
"""

_MARK_SENT = """
UPDATE notifications
SET status = 'sent', sent_at = :now, last_error = NULL, updated_at = :now,
    provider_message_id = COALESCE(:provider_message_id, provider_message_id),
    address = COALESCE(:address, address)
WHERE id = :id
"""

_REMEMBER_THREAD = """
INSERT INTO threads (incident_id, channel, address, thread_ref)
VALUES (:incident_id, :channel, :address, :thread_ref)
ON CONFLICT (incident_id, channel, address) DO NOTHING
"""


def _to_pyformat(sql: str) -> str:
    """``:name`` -> psycopg's ``%(name)s`` (the statements above hold no ``%`` or ``::``)."""
    return re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", sql)


#: An aware datetime as SQLite stores it: naive UTC text, always with microseconds.
sqlite_time = sqlite_time_in


@dataclass(frozen=True)
class _Dialect:
    """The statements and conversions of one backend."""

    claim: str
    recheck: str
    mark_sent: str
    remember_thread: str
    bind_time: Callable[[datetime], Any]
    result_time: Callable[[Any], datetime | None]
    result_json: Callable[[Any], Any]


_DIALECTS: Mapping[str, _Dialect] = {
    "sqlite": _Dialect(
        claim=_CLAIM_SQLITE,
        recheck=_RECHECK,
        mark_sent=_MARK_SENT,
        remember_thread=_REMEMBER_THREAD,
        bind_time=sqlite_time_in,
        result_time=sqlite_time_out,
        result_json=sqlite_json_out,
    ),
    "postgresql": _Dialect(
        claim=_to_pyformat(_CLAIM_POSTGRESQL),
        recheck=_to_pyformat(_RECHECK),
        mark_sent=_to_pyformat(_MARK_SENT),
        remember_thread=_to_pyformat(_REMEMBER_THREAD),
        bind_time=aware_utc,
        result_time=pg_time_out,
        result_json=pg_json_out,
    ),
}


class DispatchSQL:
    """The hot-path statements on ``connection``, inside the transaction it has begun.

    Make one per transaction. ``session``, when given, is an ORM session working in the same
    transaction: its pending changes are flushed before each statement and a
    :class:`~slawatch.store.models.Notification` it holds for a row changed here is expired.
    """

    __slots__ = ("_dbapi", "_dialect", "_session")

    def __init__(self, connection: Connection, session: Session | None = None) -> None:
        name = connection.dialect.name
        dialect = _DIALECTS.get(name)
        if dialect is None:
            raise ValueError(
                f"dispatcher: unsupported database dialect {name!r} (sqlite, postgresql)"
            )
        self._session = session
        self._dialect = dialect
        self._dbapi: Any = connection.connection.driver_connection

    def use_session(self, session: Session) -> None:
        """From now on, flush ``session`` (which shares the transaction) before each statement
        and expire its loaded rows changed here."""
        self._session = session

    def _execute(self, sql: str, params: Mapping[str, Any]) -> Any:
        session = self._session
        if session is not None and (session.new or session.dirty or session.deleted):
            session.flush()
        return self._dbapi.execute(sql, params)

    def _expire(self, notification_id: int) -> None:
        session = self._session
        if session is not None and len(session.identity_map):
            loaded = session.identity_map.get(session.identity_key(Notification, notification_id))
            if loaded is not None:
                session.expire(loaded)

    def claim_next(self, now: datetime) -> ClaimedRow | None:
        """Claim the next due row (``pending -> sending``), or ``None`` when none is due."""
        d = self._dialect
        # fetchall: a RETURNING statement left unfinished would keep SQLite's statement open.
        claimed = self._execute(d.claim, {"now": d.bind_time(now)}).fetchall()
        if not claimed:
            return None
        found = claimed[0]
        (id_, key, kind, incident_id, account_id, target, stage, step, repetition) = found[:9]
        recipient, channel, address, urgent, attempts, payload = found[9:]
        row = ClaimedRow(
            id_,
            key,
            kind,
            incident_id,
            account_id,
            target,
            stage,
            step,
            repetition,
            recipient,
            channel,
            address,
            bool(urgent),
            attempts,
            d.result_json(payload),
        )
        self._expire(row.id)
        return row

    def recheck_view(
        self, incident_id: int, channel: str, address: str | None
    ) -> tuple[IncidentView | None, str | None]:
        """The incident (account and events loaded) and the thread reference stored for
        (incident, channel, address); ``(None, None)`` when the incident does not exist."""
        d = self._dialect
        rows = self._execute(
            d.recheck, {"id": incident_id, "channel": channel, "address": address}
        ).fetchall()
        if not rows:
            return None, None
        first = rows[0]
        time_of = d.result_time
        view = IncidentView(
            first[0],
            first[1],
            first[2],
            first[3],
            first[4],
            bool(first[5]),
            first[6],
            time_of(first[7]),  # type: ignore[arg-type]
            first[8],
            first[9],
            time_of(first[10]),
            first[11],
        )
        if first[12] is not None:
            view.account = AccountView(
                first[12], first[13], first[14], first[15], d.result_json(first[16])
            )
        events = view.events
        for row in rows:
            if row[17] is not None:
                events.append(EventView(row[17], row[18], time_of(row[19]), *row[20:23]))  # type: ignore[arg-type]
        return view, first[23]

    def mark_sent(
        self,
        notification_id: int,
        now: datetime,
        *,
        provider_message_id: str | None = None,
        address: str | None = None,
    ) -> None:
        """As :func:`slawatch.store.outbox.mark_sent`: ``sent`` at ``now``, the provider id and
        address stored when given (kept otherwise); :class:`NotFoundError` for an unknown id."""
        d = self._dialect
        stamp = d.bind_time(now)
        cursor = self._execute(
            d.mark_sent,
            {
                "id": notification_id,
                "now": stamp,
                "provider_message_id": provider_message_id,
                "address": address,
            },
        )
        if cursor.rowcount == 0:
            raise NotFoundError("notification", str(notification_id))
        self._expire(notification_id)

    def remember_thread(
        self, incident_id: int, channel: str, address: str, thread_ref: str
    ) -> None:
        """As :func:`slawatch.store.repo.set_thread_ref`: the first reference wins."""
        self._execute(
            self._dialect.remember_thread,
            {
                "incident_id": incident_id,
                "channel": channel,
                "address": address,
                "thread_ref": thread_ref,
            },
        )
