"""Queries over alignment meetings, onboarding workshops and entitlement uses.

Rows only: the schedule, the "behind" rule and the allowance decision live in
:mod:`slawatch.core.meetings`, :mod:`slawatch.core.workshops` and
:mod:`slawatch.core.entitlements`. Functions take the caller's session and never commit; the
caller's unit of work (``Database.session()``) does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from slawatch.errors import NotFoundError
from slawatch.store.models import (
    Account,
    EntitlementUse,
    Meeting,
    Notification,
    PlanChange,
    Workshop,
)

__all__ = [
    "add_entitlement_use",
    "add_meeting",
    "add_workshop",
    "entitlement_uses",
    "existing_dedupe_keys",
    "lock_account",
    "meeting_dates",
    "meetings_of",
    "plan_histories",
    "plan_history",
    "uses_by_account",
    "workshop_dates",
    "workshops_of",
]


def lock_account(session: Session, account_id: str) -> Account:
    """The account, row-locked on PostgreSQL (SQLite's write transaction already serializes),
    so a check-then-insert on the ledger cannot be raced past the allowance."""
    account = session.get(Account, account_id, with_for_update=True)
    if account is None:
        raise NotFoundError("account", account_id)
    return account


def add_meeting(
    session: Session, account_id: str, held_on: date, notes: str | None, now: datetime
) -> Meeting:
    """Record a held alignment meeting."""
    row = Meeting(account_id=account_id, held_on=held_on, notes=notes, recorded_at=now)
    session.add(row)
    session.flush()
    return row


def meetings_of(session: Session, account_id: str) -> list[Meeting]:
    """The account's meetings, oldest first."""
    return list(
        session.execute(
            select(Meeting)
            .where(Meeting.account_id == account_id)
            .order_by(Meeting.held_on, Meeting.id)
        ).scalars()
    )


def _dates_by_account(
    session: Session, model: type[Meeting] | type[Workshop], account_ids: Iterable[str] | None
) -> dict[str, list[date]]:
    query = select(model.account_id, model.held_on).order_by(model.held_on)
    if account_ids is not None:
        query = query.where(model.account_id.in_(list(account_ids)))
    out: dict[str, list[date]] = defaultdict(list)
    for account_id, held_on in session.execute(query):
        out[account_id].append(held_on)
    return dict(out)


def meeting_dates(
    session: Session, account_ids: Iterable[str] | None = None
) -> dict[str, list[date]]:
    """Meeting dates per account (all accounts when ``account_ids`` is None), sorted."""
    return _dates_by_account(session, Meeting, account_ids)


def add_workshop(
    session: Session, account_id: str, held_on: date, notes: str | None, now: datetime
) -> Workshop:
    """Record a delivered onboarding workshop."""
    row = Workshop(account_id=account_id, held_on=held_on, notes=notes, recorded_at=now)
    session.add(row)
    session.flush()
    return row


def workshops_of(session: Session, account_id: str) -> list[Workshop]:
    return list(
        session.execute(
            select(Workshop)
            .where(Workshop.account_id == account_id)
            .order_by(Workshop.held_on, Workshop.id)
        ).scalars()
    )


def workshop_dates(
    session: Session, account_ids: Iterable[str] | None = None
) -> dict[str, list[date]]:
    """Workshop dates per account, sorted."""
    return _dates_by_account(session, Workshop, account_ids)


def add_entitlement_use(
    session: Session,
    account_id: str,
    kind: str,
    *,
    used_at: datetime,
    contract_year_start: date,
    overage: bool,
    note: str | None,
) -> EntitlementUse:
    """Record one use in the ledger (the caller has decided it is allowed)."""
    row = EntitlementUse(
        account_id=account_id,
        kind=kind,
        used_at=used_at,
        contract_year_start=contract_year_start,
        overage=overage,
        note=note,
    )
    session.add(row)
    session.flush()
    return row


def entitlement_uses(
    session: Session, account_id: str, contract_year_start: date | None = None
) -> list[EntitlementUse]:
    """The account's uses, oldest first; only those of one contract year when given."""
    query = select(EntitlementUse).where(EntitlementUse.account_id == account_id)
    if contract_year_start is not None:
        query = query.where(EntitlementUse.contract_year_start == contract_year_start)
    return list(
        session.execute(query.order_by(EntitlementUse.used_at, EntitlementUse.id)).scalars()
    )


def plan_history(session: Session, account_id: str) -> list[tuple[date, str]]:
    """(effective date in UTC, plan) for each recorded plan change, oldest first."""
    rows = session.execute(
        select(PlanChange.effective_at, PlanChange.plan)
        .where(PlanChange.account_id == account_id)
        .order_by(PlanChange.effective_at, PlanChange.id)
    )
    return [(at.astimezone(UTC).date(), plan) for at, plan in rows]


def plan_histories(
    session: Session, account_ids: Iterable[str] | None = None
) -> dict[str, list[tuple[date, str]]]:
    """:func:`plan_history` for many accounts in one query."""
    query = select(PlanChange.account_id, PlanChange.effective_at, PlanChange.plan).order_by(
        PlanChange.effective_at, PlanChange.id
    )
    if account_ids is not None:
        query = query.where(PlanChange.account_id.in_(list(account_ids)))
    out: dict[str, list[tuple[date, str]]] = defaultdict(list)
    for account_id, at, plan in session.execute(query):
        out[account_id].append((at.astimezone(UTC).date(), plan))
    return dict(out)


def uses_by_account(
    session: Session, account_ids: Iterable[str] | None = None
) -> dict[str, list[tuple[str, bool, date]]]:
    """(kind, overage, contract year start) of every use, per account, in one query."""
    query = select(
        EntitlementUse.account_id,
        EntitlementUse.kind,
        EntitlementUse.overage,
        EntitlementUse.contract_year_start,
    )
    if account_ids is not None:
        query = query.where(EntitlementUse.account_id.in_(list(account_ids)))
    out: dict[str, list[tuple[str, bool, date]]] = defaultdict(list)
    for account_id, kind, overage, year_start in session.execute(query):
        out[account_id].append((kind, overage, year_start))
    return dict(out)


def existing_dedupe_keys(session: Session, keys: Iterable[str], chunk: int = 500) -> set[str]:
    """Which of ``keys`` are already in the outbox (so a repeated daily run skips them cheaply;
    the unique constraint still decides any race)."""
    wanted = list(dict.fromkeys(keys))
    found: set[str] = set()
    for i in range(0, len(wanted), chunk):
        part = wanted[i : i + chunk]
        found.update(
            session.execute(
                select(Notification.dedupe_key).where(Notification.dedupe_key.in_(part))
            ).scalars()
        )
    return found
