"""Queries over accounts and incidents that the daemon and the service layer share.

The daemon's scan reads only what is due (:func:`due_incident_ids` over the
``(status, next_check_at)`` index), loads those incidents with their events and account in
bulk (:func:`load_incidents`), and stores the next instant (:func:`set_next_check`).
Functions take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.orm import Session, selectinload

from slawatch.errors import NotFoundError
from slawatch.store.models import Account, Incident, PlanChange, Thread
from slawatch.store.outbox import incident_key_range
from slawatch.store.rawsql import Raw, dialect_insert


def get_account(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFoundError("account", account_id)
    return account


def find_account(session: Session, account_id: str) -> Account | None:
    return session.get(Account, account_id)


def list_accounts(session: Session, *, active_only: bool = False) -> list[Account]:
    query = select(Account).order_by(Account.id)
    if active_only:
        query = query.where(Account.active.is_(True))
    return list(session.execute(query).scalars())


def plan_at(session: Session, account_id: str, at: datetime) -> str | None:
    """The plan in force for the account at ``at`` (the latest change at or before it)."""
    return session.execute(
        select(PlanChange.plan)
        .where(PlanChange.account_id == account_id, PlanChange.effective_at <= at)
        .order_by(PlanChange.effective_at.desc(), PlanChange.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def find_incident(
    session: Session, external_id: str, *, for_update: bool = False
) -> Incident | None:
    """The incident with that helpdesk key, events and account loaded.

    ``for_update`` locks its row until the transaction ends (see :func:`lock_incidents`): pass
    it when what is read decides what is written back.
    """
    query = (
        select(Incident)
        .where(Incident.external_id == external_id)
        .options(selectinload(Incident.events), selectinload(Incident.account))
    )
    if for_update:
        query = query.with_for_update(of=Incident)
    return session.execute(query).scalar_one_or_none()


def get_incident(session: Session, external_id: str, *, for_update: bool = False) -> Incident:
    incident = find_incident(session, external_id, for_update=for_update)
    if incident is None:
        raise NotFoundError("incident", external_id)
    return incident


def due_incident_ids(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Open incidents whose ``next_check_at`` has passed, earliest first (the
    ``(status, next_check_at)`` index; run raw, see :mod:`slawatch.store.rawsql`)."""
    with Raw(session) as raw:
        rows = raw.fetch(
            "SELECT id FROM incidents WHERE status = 'open' AND next_check_at <= ?"
            " ORDER BY next_check_at, id LIMIT ?",
            (raw.dt_in(now), limit),
        )
    return [row[0] for row in rows]


def open_incident_ids(session: Session, after_id: int = 0, limit: int = 1000) -> list[int]:
    """Open incident ids above ``after_id`` in id order: page through them for a full recompute."""
    with Raw(session) as raw:
        rows = raw.fetch(
            "SELECT id FROM incidents WHERE status = 'open' AND id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
    return [row[0] for row in rows]


def count_open_incidents(session: Session) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(Incident).where(Incident.status == "open")
        ).scalar_one()
    )


def lock_incidents(session: Session, ids: Sequence[int]) -> None:
    """Keep other writers off these incidents until the session's transaction ends.

    Whoever reads incidents to write their evaluation back (the scan, the evaluation after an
    API change) must hold them from the read to the commit: otherwise a change committed in
    between (a reopen, a priority raised) is overwritten by an evaluation of the incident as
    it was, and its next check may come hours late or never. On PostgreSQL (READ COMMITTED)
    this takes the rows' ``FOR UPDATE`` locks, in id order so that two lockers never deadlock;
    plain reads, such as a scan worker's, are not blocked. On SQLite it does nothing: a write
    transaction begins with ``BEGIN IMMEDIATE`` and no other writer commits until it ends.
    """
    if not ids or session.get_bind().dialect.name != "postgresql":
        return
    with Raw(session) as raw:
        where, params = raw.any_of("id", sorted(ids))
        raw.fetch(f"SELECT id FROM incidents WHERE {where} ORDER BY id FOR UPDATE", params)


def commits_by_others(session: Session) -> int | None:
    """A number that changes whenever a connection other than the session's commits to the
    database (SQLite's ``PRAGMA data_version``); ``None`` on PostgreSQL, which has no such
    counter. Equal values read in two transactions of one connection mean nobody else
    committed in between (:meth:`slawatch.store.db.Database.consecutive_sessions`)."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    with Raw(session) as raw:
        return int(raw.fetch("PRAGMA data_version")[0][0])


def load_incidents(
    session: Session, ids: Sequence[int], *, for_update: bool = False
) -> list[Incident]:
    """The incidents with those ids, their events and account loaded in bulk, in ``ids`` order.

    ``for_update`` first locks them (:func:`lock_incidents`).
    """
    if not ids:
        return []
    if for_update:
        lock_incidents(session, ids)
    rows = session.execute(
        select(Incident)
        .where(Incident.id.in_(list(ids)))
        .options(selectinload(Incident.events), selectinload(Incident.account))
    ).scalars()
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


@dataclass(slots=True)
class EventView:
    """An ``incident_events`` row as a plain value (the scan reads, never writes, events)."""

    id: int
    type: str
    at: datetime
    by: str | None
    priority: str | None
    text: str | None


@dataclass(slots=True)
class AccountView:
    """What evaluating an incident reads from its account."""

    id: str
    name: str
    csm: str | None
    calendar: str | None
    sla_overrides: dict[str, Any] | None


@dataclass(slots=True)
class IncidentView:
    """An incident with its events and account as plain values, for the scan.

    Same attribute names as :class:`Incident`, so the service's evaluation helpers take either.
    Loading these with Core selects costs a fraction of ORM objects with ``selectinload``;
    write back with :func:`store_evaluations`.
    """

    id: int
    external_id: str
    account_id: str
    priority: str
    opened_priority: str
    via_hotline: bool
    assignee: str | None
    opened_at: datetime
    plan: str
    status: str
    last_evaluated_at: datetime | None
    title: str
    account: AccountView | None = None
    #: In (at, id) order, as the history replays them (:func:`load_incident_views` sorts).
    events: list[EventView] = field(default_factory=list)
    #: What the last evaluation stored, so the scan writes back only what changed.
    next_check_at: datetime | None = None
    due_at: datetime | None = None
    breached: bool = False


def load_incident_views(session: Session, ids: Sequence[int]) -> list[IncidentView]:
    """:func:`load_incidents` as plain values, in ``ids`` order: three selects run raw
    (:mod:`slawatch.store.rawsql`), a fraction of the cost of ORM objects or Core rows."""
    if not ids:
        return []
    wanted = list(ids)
    by_id: dict[int, IncidentView] = {}
    with Raw(session) as raw:
        dt, postgres = raw.dt_out, raw.postgres
        where, params = raw.any_of("id", wanted)
        for row in raw.fetch(
            "SELECT id, external_id, account_id, priority, opened_priority, via_hotline,"
            " assignee, opened_at, plan, status, last_evaluated_at, title, next_check_at,"
            f" due_at, breached FROM incidents WHERE {where}",
            params,
        ):
            by_id[row[0]] = IncidentView(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5] if postgres else bool(row[5]),
                row[6],
                dt(row[7]),  # type: ignore[arg-type]
                row[8],
                row[9],
                dt(row[10]),
                row[11],
                None,
                [],
                dt(row[12]),
                dt(row[13]),
                row[14] if postgres else bool(row[14]),
            )
        where, params = raw.any_of("incident_id", wanted)
        for incident_id, event_id, kind, at, by, priority, text in raw.fetch(
            "SELECT incident_id, id, type, at, by, priority, text FROM incident_events"
            f" WHERE {where} ORDER BY incident_id, at, id",
            params,
        ):
            by_id[incident_id].events.append(
                EventView(event_id, kind, dt(at), by, priority, text)  # type: ignore[arg-type]
            )
        account_ids = sorted({view.account_id for view in by_id.values()})
        where, params = raw.any_of("id", account_ids)
        found = {
            row[0]: AccountView(row[0], row[1], row[2], row[3], raw.json_out(row[4]))
            for row in raw.fetch(
                f"SELECT id, name, csm, calendar, sla_overrides FROM accounts WHERE {where}",
                params,
            )
        }
    for view in by_id.values():
        view.account = found.get(view.account_id)
    return [by_id[i] for i in wanted if i in by_id]


def sent_keys_by_incident(session: Session, incident_ids: Sequence[int]) -> dict[int, set[str]]:
    """Every dedupe key already in the outbox per incident, whatever its status (run raw).

    On SQLite these are the keys in each incident's range of the unique key index
    (:func:`outbox.incident_key_range`; migration 0006); on PostgreSQL the rows whose
    ``incident_id`` is the incident, from the covering ``(incident_id, dedupe_key)`` index. Both
    hold every key the policy can decide for the incident, since each starts with its id.
    """
    keys: dict[int, set[str]] = {}
    if not incident_ids:
        return keys
    with Raw(session) as raw:
        if raw.postgres:
            where, params = raw.any_of("incident_id", list(incident_ids))
            rows = raw.fetch(
                f"SELECT incident_id, dedupe_key FROM notifications WHERE {where}", params
            )
        else:
            bounds: list[Any] = []
            for incident_id in incident_ids:
                bounds.append(incident_id)
                bounds.extend(incident_key_range(incident_id))
            rows = raw.fetch(
                SQLITE_KEYS_IN_RANGES.format(ranges=",".join(["(?, ?, ?)"] * len(incident_ids))),
                bounds,
            )
    for incident_id, key in rows:
        found = keys.get(incident_id)
        if found is None:
            keys[incident_id] = {key}
        else:
            found.add(key)
    return keys


#: The dedupe keys in a list of key ranges, each a search of the unique key index (SQLite).
SQLITE_KEYS_IN_RANGES = (
    "WITH ranges(id, lo, hi) AS (VALUES {ranges}) SELECT ranges.id, n.dedupe_key FROM ranges"
    " JOIN notifications AS n ON n.dedupe_key >= ranges.lo AND n.dedupe_key < ranges.hi"
)


#: The columns :func:`store_evaluations` may write, with how each is converted.
_EVALUATION_COLUMNS = ("next_check_at", "last_evaluated_at", "due_at", "breached")


def store_evaluations(session: Session, values: Sequence[Mapping[str, Any]]) -> None:
    """Write evaluation results back: one executemany ``UPDATE incidents ... WHERE id = ?`` per
    set of columns (items with the same keys are grouped; run raw).

    Each item holds ``id`` plus some of ``next_check_at``, ``last_evaluated_at``, ``due_at``,
    ``breached``. The scan passes only ``last_evaluated_at`` for an incident whose other
    values did not change, which spares the ``next_check_at`` index the churn. Bypasses the
    ORM: do not mix with loaded ``Incident`` objects for the same rows in this session.
    """
    if not values:
        return
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for item in values:
        columns = tuple(key for key in item if key != "id")
        unknown = set(columns) - set(_EVALUATION_COLUMNS)
        if unknown:
            raise ValueError(f"store_evaluations: unknown columns {sorted(unknown)}")
        groups.setdefault(columns, []).append(item)
    with Raw(session) as raw:
        formatted: dict[datetime, Any] = {}  # the same instants recur (``now``, due times)

        def dt(value: datetime | None) -> Any:
            if value is None:
                return None
            found = formatted.get(value)
            if found is None:
                found = formatted[value] = raw.dt_in(value)
            return found

        for columns, items in groups.items():
            if not columns:
                continue
            if len(columns) == 1:
                # One column (the scan's "only last_evaluated_at"), usually one value for all:
                # one UPDATE per value with the ids in a list, not one per row.
                column = columns[0]
                convert = bool if column == "breached" else dt
                by_value: dict[Any, list[int]] = {}
                for item in items:
                    by_value.setdefault(convert(item[column]), []).append(item["id"])
                for value, ids in by_value.items():
                    for first in range(0, len(ids), 500):
                        where, params = raw.any_of("id", ids[first : first + 500])
                        raw.execute(
                            f"UPDATE incidents SET {column} = ? WHERE {where}", [value, *params]
                        )
                continue
            converters = [bool if column == "breached" else dt for column in columns]
            assignments = ", ".join(f"{column} = ?" for column in columns)
            raw.execute_many(
                f"UPDATE incidents SET {assignments} WHERE id = ?",
                (
                    [
                        *(convert(item[c]) for convert, c in zip(converters, columns, strict=True)),
                        item["id"],
                    ]
                    for item in items
                ),
            )


def queue_ids(
    session: Session,
    *,
    status: str | None,
    ranks: Mapping[str, int],
    priorities: Sequence[str],
    limit: int | None = None,
    offset: int = 0,
) -> list[int]:
    """Incident ids in service order, one page of it with ``limit`` and ``offset``: higher plan
    rank first (``ranks`` by plan name), then ``priorities`` order, then the earliest due time
    (none last), then opened first, then external id (codepoint order on both databases).

    Sorted in SQL from the stored columns, so a page costs that page only. ``due_at`` is what
    the incident's last evaluation stored; every change to an incident is evaluated, so it is
    the due time its clocks give now.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    query = select(Incident.id).order_by(
        case({plan: -rank for plan, rank in ranks.items()}, value=Incident.plan, else_=0),
        case(
            {name: index for index, name in enumerate(priorities)},
            value=Incident.priority,
            else_=len(priorities),
        ),
        Incident.due_at.is_(None),
        Incident.due_at,
        Incident.opened_at,
        Incident.external_id.collate("C") if postgres else Incident.external_id,
    )
    if status is not None:
        query = query.where(Incident.status == status)
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    return list(session.execute(query).scalars())


def list_incidents(session: Session, *, status: str | None = "open") -> list[Incident]:
    """Incidents (with events and account) in id order; ``status=None`` for all."""
    query = select(Incident).options(selectinload(Incident.events), selectinload(Incident.account))
    if status is not None:
        query = query.where(Incident.status == status)
    return list(session.execute(query.order_by(Incident.id)).scalars())


def set_next_check(
    session: Session, incident_id: int, next_check_at: datetime | None, evaluated_at: datetime
) -> None:
    """Store the next instant the incident must be looked at (``None``: nothing more)."""
    session.execute(
        update(Incident)
        .where(Incident.id == incident_id)
        .values(next_check_at=next_check_at, last_evaluated_at=evaluated_at)
        .execution_options(synchronize_session="fetch")
    )


@cache
def _thread_ref_statement() -> Any:
    return select(Thread.thread_ref).where(
        Thread.incident_id == bindparam("incident_id"),
        Thread.channel == bindparam("channel"),
        Thread.address == bindparam("address"),
    )


def get_thread_ref(session: Session, incident_id: int, channel: str, address: str) -> str | None:
    """The Slack ``ts`` or email Message-ID earlier messages for this incident went to."""
    return session.execute(
        _thread_ref_statement(),
        {"incident_id": incident_id, "channel": channel, "address": address},
    ).scalar_one_or_none()


def set_thread_ref(
    session: Session, incident_id: int, channel: str, address: str, thread_ref: str
) -> None:
    """Remember the first message's reference; an existing reference is kept (first wins)."""
    insert_fn = dialect_insert(session)
    session.execute(
        insert_fn(Thread)
        .values(incident_id=incident_id, channel=channel, address=address, thread_ref=thread_ref)
        .on_conflict_do_nothing(index_elements=["incident_id", "channel", "address"])
    )


def earliest_next_check(session: Session) -> datetime | None:
    """The soonest ``next_check_at`` among open incidents (to time the next scan exactly)."""
    return session.execute(
        select(func.min(Incident.next_check_at)).where(Incident.status == "open")
    ).scalar_one_or_none()
