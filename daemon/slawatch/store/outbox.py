"""The notification outbox: enqueue, claim, and record each delivery outcome.

At-least-once delivery rests on three rules kept here:

* a notification is a row before it is anything else (:func:`enqueue`), and its ``dedupe_key``
  is unique, so enqueueing the same decision twice is silently a no-op (``ON CONFLICT DO
  NOTHING`` on both SQLite and PostgreSQL);
* :func:`claim` moves rows ``pending -> sending`` atomically (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, a guarded ``UPDATE ... WHERE status = 'pending'`` everywhere), urgent rows first;
* a row left ``sending`` by a crash is put back to ``pending`` at start
  (:func:`requeue_in_flight`), which re-sends at most that one message.

Callers pass ``now``; nothing here reads the clock. Every function works inside the caller's
session (transaction); the caller commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, func, or_, select, union_all, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ClauseElement

from slawatch.errors import ConflictError, NotFoundError
from slawatch.store.models import Incident, Notification
from slawatch.store.rawsql import Raw, dialect_insert

#: States a user may move back to pending with ``slawatch outbox retry``.
RETRYABLE = ("failed", "dropped", "cancelled")
#: States a user may cancel with ``slawatch outbox cancel``.
CANCELLABLE = ("pending", "failed")


@dataclass(frozen=True)
class NewNotification:
    """What to enqueue. ``next_attempt_at`` is the earliest send time (normally ``now``)."""

    dedupe_key: str
    kind: str
    stage: str
    recipient: str
    channel: str
    next_attempt_at: datetime
    incident_id: int | None = None
    account_id: str | None = None
    target: str | None = None
    step: str | None = None
    repetition: int = 0
    address: str | None = None
    urgent: bool = False
    not_before: datetime | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    fallback_of: int | None = None

    def __post_init__(self) -> None:
        # An incident's rows are found by key prefix on SQLite (incident_key_range): the key
        # space "<id>|..." belongs to that incident and to no row of anything else.
        head, bar, _ = self.dedupe_key.partition("|")
        if self.incident_id is not None:
            if head != str(self.incident_id) or not bar:
                raise ValueError(
                    f"dedupe key {self.dedupe_key!r} of incident {self.incident_id} must start"
                    f" with '{self.incident_id}|'"
                )
        elif bar and head.isdigit():
            raise ValueError(
                f"dedupe key {self.dedupe_key!r} looks like an incident's; rows without an"
                " incident must not start with '<number>|'"
            )


def _row_values(item: NewNotification, now: datetime, status: str = "pending") -> dict[str, Any]:
    """The column values of a new outbox row for ``item``."""
    return {
        "dedupe_key": item.dedupe_key,
        "kind": item.kind,
        "incident_id": item.incident_id,
        "account_id": item.account_id,
        "target": item.target,
        "stage": item.stage,
        "step": item.step,
        "repetition": item.repetition,
        "recipient": item.recipient,
        "channel": item.channel,
        "address": item.address,
        "urgent": item.urgent,
        "status": status,
        "attempts": 0,
        "next_attempt_at": item.next_attempt_at,
        "not_before": item.not_before,
        "payload": dict(item.payload),
        "fallback_of": item.fallback_of,
        "created_at": now,
        "updated_at": now,
    }


def enqueue(session: Session, item: NewNotification, now: datetime) -> int | None:
    """Insert ``item``; return its id, or ``None`` when its dedupe key already exists."""
    values = _row_values(item, now)
    insert_fn = dialect_insert(session)
    stmt = (
        insert_fn(Notification)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def enqueue_batch(
    session: Session,
    items: Sequence[tuple[NewNotification, str | None]],
    now: datetime,
) -> dict[str, int]:
    """Insert many rows in one statement (per few hundred rows); return ``{dedupe_key: id}`` of
    the rows actually inserted (an existing or repeated key is skipped, as by :func:`enqueue`).

    Each item is ``(notification, drop_reason)``: with a reason the row is stored ``dropped``
    at once (a decision recorded so it is not taken again, never sent), which is what
    :func:`enqueue` followed by :func:`mark_dropped` leaves. Rows are inserted in ``items``
    order, so ids keep that order. Used by the scan: one round trip per batch of incidents
    instead of two statements per notice.
    """
    with Raw(session) as raw:
        created = raw.dt_in(now)
        params = [
            row_params(item, reason, created, raw.dt_in, raw.json_in) for item, reason in items
        ]
    return insert_params(session, params)


def row_params(
    item: NewNotification,
    reason: str | None,
    created: Any,
    dt: Callable[[datetime | None], Any],
    as_json: Callable[[Any], Any],
) -> tuple[Any, ...]:
    """The values of :data:`_BATCH_COLUMNS` for ``item``, converted for the database with
    ``dt`` and ``as_json`` (``Raw.dt_in``/``Raw.json_in``; ``created`` is ``now`` converted).

    Plain values: a scan worker builds them, and :func:`insert_params` writes them in the
    daemon's transaction. (Run raw: SQLAlchemy's per-value bind processing of ~20 columns cost
    more than the insert itself on a scan tick that enqueues thousands of rows.)
    """
    return new_row(
        item.dedupe_key,
        item.kind,
        item.incident_id,
        item.account_id,
        item.target,
        item.stage,
        item.step,
        item.repetition,
        item.recipient,
        item.channel,
        item.address,
        item.urgent,
        dt(item.next_attempt_at),
        dt(item.not_before),
        as_json(dict(item.payload)),
        item.fallback_of,
        created,
        reason,
    )


def new_row(
    dedupe_key: str,
    kind: str,
    incident_id: int | None,
    account_id: str | None,
    target: str | None,
    stage: str,
    step: str | None,
    repetition: int,
    recipient: str,
    channel: str,
    address: str | None,
    urgent: bool,
    next_attempt_at: Any,
    not_before: Any,
    payload: Any,
    fallback_of: int | None,
    created: Any,
    drop_reason: str | None,
) -> tuple[Any, ...]:
    """:func:`row_params` from values already converted for the database, without a
    :class:`NewNotification`: the scan builds thousands of rows per tick, and the object and
    its checks cost as much as the rest of the row. The caller guarantees what
    ``NewNotification`` checks: an incident's key starts with ``"<incident_id>|"``."""
    return (
        dedupe_key,
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
        "pending" if drop_reason is None else "dropped",
        0,
        next_attempt_at,
        not_before,
        payload,
        fallback_of,
        created,
        created,
        drop_reason,
    )


def insert_params(
    session: Session, rows: Sequence[tuple[Any, ...]], *, seen: set[str] | None = None
) -> dict[str, int]:
    """Insert :func:`row_params` rows in order, a key already in the outbox or earlier in
    ``rows`` skipped; return ``{dedupe_key: id}`` of the rows inserted.

    ``seen`` carries the keys offered by earlier calls in the same transaction (updated here),
    so that rows written in several calls count as one batch.
    """
    unique: list[tuple[Any, ...]] = []
    seen = set() if seen is None else seen
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    inserted: dict[str, int] = {}
    one_row = "(" + ", ".join("?" * len(_BATCH_COLUMNS)) + ")"
    with Raw(session) as raw:
        for first in range(0, len(unique), _BATCH_ROWS):
            chunk = unique[first : first + _BATCH_ROWS]
            for key, new_id in raw.fetch(
                f"INSERT INTO notifications ({', '.join(_BATCH_COLUMNS)}) VALUES "
                + ", ".join([one_row] * len(chunk))
                + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key, id",
                [value for row in chunk for value in row],
            ):
                inserted[key] = new_id
    return inserted


#: The columns :func:`enqueue_batch` writes (the others are NULL until the row is sent).
_BATCH_COLUMNS = (
    "dedupe_key",
    "kind",
    "incident_id",
    "account_id",
    "target",
    "stage",
    "step",
    "repetition",
    "recipient",
    "channel",
    "address",
    "urgent",
    "status",
    "attempts",
    "next_attempt_at",
    "not_before",
    "payload",
    "fallback_of",
    "created_at",
    "updated_at",
    "drop_reason",
)
#: Rows per INSERT statement: 21 parameters each stays under SQLite's 32,766 and
#: PostgreSQL's 65,535 parameters per statement.
_BATCH_ROWS = 500


def enqueue_many(session: Session, items: Iterable[NewNotification], now: datetime) -> list[int]:
    """Enqueue each item; return the ids of the rows actually inserted (duplicates skipped)."""
    ids: list[int] = []
    for item in items:
        new_id = enqueue(session, item, now)
        if new_id is not None:
            ids.append(new_id)
    return ids


def _due(now: datetime) -> Any:
    return and_(
        Notification.status == "pending",
        Notification.next_attempt_at <= now,
        or_(Notification.not_before.is_(None), Notification.not_before <= now),
    )


def claim(
    session: Session,
    now: datetime,
    limit: int = 50,
    *,
    channels: Sequence[str] | None = None,
) -> list[Notification]:
    """Take up to ``limit`` due pending notifications and mark them ``sending``.

    Order: urgent first (SMS pages jump the queue), then ``next_attempt_at``, then id. Each
    claimed row's ``attempts`` is incremented. Two dispatchers never claim the same row.
    """
    query: Select[Any] = select(Notification.id).where(_due(now))
    if channels is not None:
        query = query.where(Notification.channel.in_(list(channels)))
    query = query.order_by(
        Notification.urgent.desc(), Notification.next_attempt_at, Notification.id
    ).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.execute(query).scalars())
    if not ids:
        return []
    claimed = session.execute(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.status == "pending")
        .values(status="sending", attempts=Notification.attempts + 1, updated_at=now)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    ).scalars()
    claimed_ids = set(claimed)
    rows = session.execute(
        select(Notification)
        .where(Notification.id.in_(claimed_ids))
        .execution_options(populate_existing=True)
    ).scalars()
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


#: The columns :func:`claim_rows` returns (what the dispatcher needs of a claimed row).
CLAIM_COLUMNS = (
    "id",
    "dedupe_key",
    "kind",
    "incident_id",
    "account_id",
    "target",
    "stage",
    "step",
    "repetition",
    "recipient",
    "channel",
    "address",
    "urgent",
    "attempts",
    "payload",
)


def _claim_due(now: Any) -> tuple[Any, ...]:
    return (
        Notification.status == "pending",
        Notification.next_attempt_at <= now,
        or_(Notification.not_before.is_(None), Notification.not_before <= now),
    )


def _claim_order(now: Any) -> Select[Any]:
    """Due pending ids in claim order: urgent first, then ``next_attempt_at``, then id."""
    return (
        select(Notification.id)
        .where(*_claim_due(now))
        .order_by(Notification.urgent.desc(), Notification.next_attempt_at, Notification.id)
        .limit(bindparam("limit"))
    )


@cache
def _claim_statements(for_update: bool) -> tuple[Any, Any]:
    """:func:`claim_rows`'s two statements, built once with bind parameters: building and
    cache-keying SQLAlchemy expressions costs more than running them, once per message."""
    now: Any = bindparam("now")
    query: Select[Any]
    if for_update:
        query = _claim_order(now).with_for_update(skip_locked=True)
    else:
        # The same order, read from the (status, urgent, next_attempt_at) index: the first due
        # rows of each urgency in index order, merged, instead of sorting every due pending row
        # (SQLite's planner prefers the (status, next_attempt_at) range and sorts otherwise).
        parts = [
            select(Notification.id, Notification.urgent, Notification.next_attempt_at)
            .where(*_claim_due(now), Notification.urgent == flag)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(bindparam("limit"))
            .subquery()
            for flag in (True, False)
        ]
        merged = union_all(*(select(part) for part in parts)).subquery()
        query = (
            select(merged.c.id)
            .order_by(merged.c.urgent.desc(), merged.c.next_attempt_at, merged.c.id)
            .limit(bindparam("limit"))
        )
    table = cast(Table, Notification.__table__)
    claim_stmt = (
        update(table)
        .where(table.c.id.in_(bindparam("ids", expanding=True)), table.c.status == "pending")
        .values(status="sending", attempts=table.c.attempts + 1, updated_at=bindparam("now"))
        .returning(*(table.c[name] for name in CLAIM_COLUMNS))
    )
    return query, claim_stmt


@cache
def _claim_in_one() -> Any:
    """The SQLite claim as one statement: :func:`_claim_statements`' ordered select as the
    ``IN`` of its ``UPDATE``, returning ``next_attempt_at`` too so the rows can be put back in
    claim order (``RETURNING`` has no order)."""
    query, _ = _claim_statements(False)
    table = cast(Table, Notification.__table__)
    return (
        update(table)
        .where(table.c.id.in_(query.scalar_subquery()), table.c.status == "pending")
        .values(status="sending", attempts=table.c.attempts + 1, updated_at=bindparam("now"))
        .returning(*(table.c[name] for name in CLAIM_COLUMNS), table.c.next_attempt_at)
    )


def claim_rows(
    session: Session,
    now: datetime,
    limit: int = 50,
    *,
    channels: Sequence[str] | None = None,
) -> list[Any]:
    """:func:`claim` returning plain rows (``CLAIM_COLUMNS``, ``attempts`` already incremented)
    from the ``UPDATE ... RETURNING`` itself: one statement fewer and no ORM objects, for the
    dispatcher's one-row-at-a-time loop. Same order and guarantees as :func:`claim`."""
    for_update = session.get_bind().dialect.name == "postgresql"
    query, claim_stmt = _claim_statements(for_update)
    if channels is not None:
        query = _claim_order(bindparam("now")).where(Notification.channel.in_(list(channels)))
        if for_update:
            query = query.with_for_update(skip_locked=True)
    if not for_update and channels is None:
        # SQLite: select and claim in one UPDATE ... WHERE id IN (<ordered select>); the
        # database holds the write lock for the whole statement, so no row is claimed twice.
        claimed = session.execute(_claim_in_one(), {"now": now, "limit": limit})
        return sorted(claimed, key=lambda row: (not row.urgent, row.next_attempt_at, row.id))
    ids = list(session.execute(query, {"now": now, "limit": limit}).scalars())
    if not ids:
        return []
    rows = session.execute(claim_stmt, {"ids": ids, "now": now}).all()
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def claim_id(session: Session, notification_id: int, now: datetime) -> bool:
    """Claim one given row as :func:`claim_rows` would (``pending -> sending``, ``attempts``
    incremented); False when it is no longer pending. For the dispatcher, whose claim was
    rolled back together with a re-check or rendering that raised."""
    table = cast(Table, Notification.__table__)
    result = session.execute(
        update(table)
        .where(table.c.id == notification_id, table.c.status == "pending")
        .values(status="sending", attempts=table.c.attempts + 1, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def next_due_at(session: Session) -> datetime | None:
    """The earliest instant a pending notification becomes sendable (to time a wake-up)."""
    pending = session.execute(
        select(func.min(Notification.next_attempt_at)).where(Notification.status == "pending")
    ).scalar_one_or_none()
    return pending


@cache
def _set_statement(keys: tuple[str, ...]) -> Any:
    """``UPDATE notifications SET <keys> WHERE id = :_id``, built once per set of columns."""
    table = cast(Table, Notification.__table__)
    return (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({key: bindparam(f"v_{key}") for key in keys})
    )


def _set(session: Session, notification_id: int, now: datetime, **values: Any) -> None:
    """Update one row with a prebuilt Core statement (the dispatcher does this for every
    message; building an ORM UPDATE each time cost more than running it). Pending ORM changes
    are flushed first and a loaded :class:`Notification` for the row is expired, so callers
    holding one see the new values, as with the ORM's synchronisation."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    values = {"updated_at": now, **values}
    if any(isinstance(value, ClauseElement) for value in values.values()):
        table = cast(Table, Notification.__table__)
        stmt: Any = update(table).where(table.c.id == notification_id).values(**values)
        result = session.execute(stmt)
    else:
        keys = tuple(sorted(values))
        params = {f"v_{key}": values[key] for key in keys}
        result = session.execute(_set_statement(keys), {"_id": notification_id, **params})
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFoundError("notification", str(notification_id))
    loaded = session.identity_map.get(session.identity_key(Notification, notification_id))
    if loaded is not None:
        session.expire(loaded)


def mark_sent(
    session: Session,
    notification_id: int,
    now: datetime,
    *,
    provider_message_id: str | None = None,
    address: str | None = None,
) -> None:
    """The provider accepted the message."""
    values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
    if provider_message_id is not None:
        values["provider_message_id"] = provider_message_id
    if address is not None:
        values["address"] = address
    _set(session, notification_id, now, **values)


def mark_failed(session: Session, notification_id: int, now: datetime, error: str) -> None:
    """A permanent failure (or retries exhausted): no further attempts."""
    _set(session, notification_id, now, status="failed", last_error=error)


def mark_retry(
    session: Session, notification_id: int, now: datetime, next_attempt_at: datetime, error: str
) -> None:
    """A temporary failure: back to pending, to be tried again at ``next_attempt_at``."""
    _set(
        session,
        notification_id,
        now,
        status="pending",
        next_attempt_at=next_attempt_at,
        last_error=error,
    )


def mark_dropped(session: Session, notification_id: int, now: datetime, reason: str) -> None:
    """No longer applies (incident resolved, acknowledged, clock met): recorded, not sent."""
    _set(session, notification_id, now, status="dropped", drop_reason=reason)


def hold_until(session: Session, notification_id: int, now: datetime, until: datetime) -> None:
    """Put a claimed row back to pending until ``until`` (delivery hours, rate limits)."""
    _set(
        session,
        notification_id,
        now,
        status="pending",
        next_attempt_at=until,
        attempts=Notification.attempts - 1,
    )


def set_delivery_status(
    session: Session, provider_message_id: str, status: str, now: datetime
) -> bool:
    """Record a provider receipt (e.g. Twilio's status callback); False if the id is unknown."""
    result = session.execute(
        update(Notification)
        .where(Notification.provider_message_id == provider_message_id)
        .values(delivery_status=status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def requeue_in_flight(session: Session, now: datetime) -> int:
    """After a crash: rows left ``sending`` go back to ``pending`` (sent again, at least once).

    Call only at start, before any dispatcher of this database runs.
    """
    result = session.execute(
        update(Notification)
        .where(Notification.status == "sending")
        .values(status="pending", next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def get(session: Session, notification_id: int) -> Notification:
    row = session.get(Notification, notification_id)
    if row is None:
        raise NotFoundError("notification", str(notification_id))
    return row


def incident_key_range(incident_id: int) -> tuple[str, str]:
    """``[low, high)``: the dedupe keys of an incident's rows, ``"<id>|..."``, in a byte-wise
    order such as SQLite's. Every key :func:`slawatch.core.delivery.dedupe_key` makes starts
    with the incident, and a fallback row's key extends its original's. ``"}"`` follows ``"|"``,
    and no other incident's keys start with ``"<id>|"``."""
    return f"{incident_id}|", f"{incident_id}}}"


def list_notifications(
    session: Session,
    *,
    status: str | Sequence[str] | None = None,
    incident_id: int | None = None,
    limit: int = 100,
) -> list[Notification]:
    """Newest first; filter by status (one or several) and/or incident."""
    query = notifications_query(
        session.get_bind().dialect.name, status=status, incident_id=incident_id, limit=limit
    )
    return list(session.execute(query).scalars())


def notifications_query(
    dialect: str,
    *,
    status: str | Sequence[str] | None = None,
    incident_id: int | None = None,
    limit: int = 100,
) -> Select[Notification]:
    """The select :func:`list_notifications` runs on ``dialect`` (``"sqlite"``, ...)."""
    query = select(Notification)
    if isinstance(status, str):
        query = query.where(Notification.status == status)
    elif status is not None:
        query = query.where(Notification.status.in_(list(status)))
    if incident_id is not None:
        query = query.where(Notification.incident_id == incident_id)
        if dialect == "sqlite":
            # no index on incident_id there (migration 0006): the key range finds the rows
            low, high = incident_key_range(incident_id)
            query = query.where(Notification.dedupe_key >= low, Notification.dedupe_key < high)
    return query.order_by(Notification.id.desc()).limit(limit)


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Notification.status, func.count()).group_by(Notification.status)
    ).all()
    return {status: int(count) for status, count in rows}


def retry(session: Session, notification_id: int, now: datetime) -> Notification:
    """``slawatch outbox retry``: a failed, dropped or cancelled row goes back to pending now."""
    row = get(session, notification_id)
    if row.status not in RETRYABLE:
        raise ConflictError(
            "status",
            f"notification {notification_id} is {row.status}; only "
            f"{', '.join(RETRYABLE)} ones can be retried",
        )
    row.status = "pending"
    row.next_attempt_at = now
    row.not_before = None
    row.drop_reason = None
    # A fresh series of attempts: a row that failed after [delivery] max_attempts would
    # otherwise fail again at its first temporary error.
    row.attempts = 0
    row.updated_at = now
    session.flush()
    return row


def cancel(session: Session, notification_id: int, now: datetime) -> Notification:
    """``slawatch outbox cancel``: a pending (or failed) row will never be sent."""
    row = get(session, notification_id)
    if row.status not in CANCELLABLE:
        raise ConflictError(
            "status",
            f"notification {notification_id} is {row.status}; only "
            f"{', '.join(CANCELLABLE)} ones can be cancelled",
        )
    row.status = "cancelled"
    row.updated_at = now
    session.flush()
    return row


def purge_sent_before(session: Session, cutoff: datetime) -> int:
    """Housekeeping: delete sent, dropped and cancelled rows last touched before ``cutoff``,
    except those of incidents still open.

    An open incident's rows are its memory of what it was already told: the policy re-decides
    every reached threshold whose key is missing from the outbox, so forgetting the 50% message
    of an incident open for months would send it again as a catch-up. Rows of resolved
    incidents and rows without an incident (reminders, whose keys name a date the reminder
    logic no longer reaches) can go. Failed rows are kept for an operator to look at
    (``slawatch outbox list --status failed``). Rows another row falls back from are kept while
    that row exists (the foreign key).
    """
    from sqlalchemy import delete, exists

    referenced = select(Notification.fallback_of).where(Notification.fallback_of.is_not(None))
    still_open = exists().where(Incident.id == Notification.incident_id, Incident.status == "open")
    result = session.execute(
        delete(Notification)
        .where(
            Notification.status.in_(["sent", "dropped", "cancelled"]),
            Notification.updated_at < cutoff,
            Notification.id.not_in(referenced),
            ~still_open,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
