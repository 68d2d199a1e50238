"""Queries over accounts and incidents that the daemon and the service layer share.

The daemon's scan reads only what is due (:func:`due_incident_ids` over the
``(status, next_check_at)`` index), loads those incidents with their events and account in
bulk (:func:`load_incidents`), and stores the next instant (:func:`set_next_check`).
Functions take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from slawatch.errors import NotFoundError
from slawatch.store.models import Account, Incident, PlanChange, Thread


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


def get_thread_ref(session: Session, incident_id: int, channel: str, address: str) -> str | None:
    """The Slack ``ts`` or email Message-ID earlier messages for this incident went to."""
    return session.execute(
        select(Thread.thread_ref).where(
            Thread.incident_id == incident_id,
            Thread.channel == channel,
            Thread.address == address,
        )
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
