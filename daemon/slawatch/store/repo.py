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
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from slawatch.errors import NotFoundError
from slawatch.store.models import Account, Incident, IncidentEventRow, PlanChange, Thread


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


def find_incident(session: Session, external_id: str) -> Incident | None:
    """The incident with that helpdesk key, events and account loaded."""
    return session.execute(
        select(Incident)
        .where(Incident.external_id == external_id)
        .options(selectinload(Incident.events), selectinload(Incident.account))
    ).scalar_one_or_none()


def get_incident(session: Session, external_id: str) -> Incident:
    incident = find_incident(session, external_id)
    if incident is None:
        raise NotFoundError("incident", external_id)
    return incident


def due_incident_ids(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Open incidents whose ``next_check_at`` has passed, earliest first."""
    return list(
        session.execute(
            select(Incident.id)
            .where(Incident.status == "open", Incident.next_check_at <= now)
            .order_by(Incident.next_check_at, Incident.id)
            .limit(limit)
        ).scalars()
    )


def open_incident_ids(session: Session, after_id: int = 0, limit: int = 1000) -> list[int]:
    """Open incident ids above ``after_id`` in id order: page through them for a full recompute."""
    return list(
        session.execute(
            select(Incident.id)
            .where(Incident.status == "open", Incident.id > after_id)
            .order_by(Incident.id)
            .limit(limit)
        ).scalars()
    )


def count_open_incidents(session: Session) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(Incident).where(Incident.status == "open")
        ).scalar_one()
    )


def load_incidents(session: Session, ids: Sequence[int]) -> list[Incident]:
    """The incidents with those ids, their events and account loaded in bulk, in ``ids`` order."""
    if not ids:
        return []
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
    events: list[EventView] = field(default_factory=list)


@cache
def _view_statements() -> tuple[Any, Any, Any]:
    """The three selects of :func:`load_incident_views`, built once (``ids`` is expanding):
    building and cache-keying the expressions costs more than running them for one incident."""
    t = Incident.__table__.c
    incidents = select(
        t.id,
        t.external_id,
        t.account_id,
        t.priority,
        t.opened_priority,
        t.via_hotline,
        t.assignee,
        t.opened_at,
        t.plan,
        t.status,
        t.last_evaluated_at,
        t.title,
    ).where(t.id.in_(bindparam("ids", expanding=True)))
    e = IncidentEventRow.__table__.c
    events = (
        select(e.incident_id, e.id, e.type, e.at, e.by, e.priority, e.text)
        .where(e.incident_id.in_(bindparam("ids", expanding=True)))
        .order_by(e.incident_id, e.at, e.id)
    )
    a = Account.__table__.c
    accounts = select(a.id, a.name, a.csm, a.calendar, a.sla_overrides).where(
        a.id.in_(bindparam("ids", expanding=True))
    )
    return incidents, events, accounts


def load_incident_views(session: Session, ids: Sequence[int]) -> list[IncidentView]:
    """:func:`load_incidents` as plain values: three Core selects, in ``ids`` order."""
    if not ids:
        return []
    wanted = list(ids)
    incidents, events, accounts = _view_statements()
    by_id: dict[int, IncidentView] = {}
    for irow in session.execute(incidents, {"ids": wanted}):
        iid, external_id, account_id, priority, opened_priority, hotline, assignee = irow[:7]
        opened_at, plan, status, last_evaluated_at, title = irow[7:]
        by_id[iid] = IncidentView(
            iid,
            external_id,
            account_id,
            priority,
            opened_priority,
            hotline,
            assignee,
            opened_at,
            plan,
            status,
            last_evaluated_at,
            title,
        )
    for incident_id, *event in session.execute(events, {"ids": wanted}):
        by_id[incident_id].events.append(EventView(*event))
    account_ids = sorted({view.account_id for view in by_id.values()})
    found = {row[0]: AccountView(*row) for row in session.execute(accounts, {"ids": account_ids})}
    for view in by_id.values():
        view.account = found.get(view.account_id)
    return [by_id[i] for i in wanted if i in by_id]


def store_evaluations(session: Session, values: Sequence[Mapping[str, Any]]) -> None:
    """Write evaluation results back in one executemany ``UPDATE incidents ... WHERE id = ?``.

    Each item holds ``id`` plus the same other columns (``next_check_at``,
    ``last_evaluated_at``, ...). Bypasses the ORM: do not mix with loaded ``Incident`` objects
    for the same rows in this session.
    """
    if not values:
        return
    table = cast(Table, Incident.__table__)
    columns = [key for key in values[0] if key != "id"]
    stmt = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({key: bindparam(key) for key in columns})
    )
    session.execute(
        stmt, [{"_id": item["id"], **{key: item[key] for key in columns}} for item in values]
    )


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
    dialect = session.get_bind().dialect.name
    insert_fn: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
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
