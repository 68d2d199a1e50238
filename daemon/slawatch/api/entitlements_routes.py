"""HTTP API for alignment meetings, onboarding workshops and the entitlements ledger.

=======  ==================================================  =====================================
method   path                                                does
=======  ==================================================  =====================================
POST     ``/api/v1/accounts/{id}/meetings``                  record a held meeting (``date``,
                                                             ``notes``)
GET      ``/api/v1/meetings``                                overdue / due / upcoming meetings
                                                             (``due_within=30d``, ``overdue``,
                                                             ``csm``)
POST     ``/api/v1/accounts/{id}/workshops``                 record a delivered workshop
GET      ``/api/v1/accounts/{id}/entitlements``              used / included / remaining this
                                                             contract year
POST     ``/api/v1/accounts/{id}/entitlements/{kind}/uses``  record one use (``note``, ``force``);
                                                             409 beyond the allowance
=======  ==================================================  =====================================

Same rules and same code as the CLI (:mod:`slawatch.service.entitlements`).
:func:`slawatch.api.app.create_app` includes it behind the bearer-token check; handlers raise
the project's errors (``NotFoundError`` 404, ``ValidationError`` 422, ``ConflictError`` 409)
and the app's handlers (:mod:`slawatch.api.errors`) turn them into ``{"error", "field"}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from slawatch.api.errors import ERROR_RESPONSES
from slawatch.api.schemas import ErrorOut
from slawatch.config.loader import Settings
from slawatch.core.entitlements import KINDS, Balance
from slawatch.errors import ValidationError
from slawatch.service import entitlements as svc
from slawatch.store.db import Database
from slawatch.store.repo import get_account

__all__ = ["entitlements_router"]

Kind = Literal["report", "restore", "ticket", "sandbox"]
State = Literal["upcoming", "due", "overdue", "held"]
AccountId = Annotated[
    str,
    Path(alias="id", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="The account id"),
]
Count = int | Literal["multiple"]
#: Free text: no control characters but tab, newline and carriage return.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
assert set(KINDS) == {"report", "restore", "ticket", "sandbox"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _iso_date(value: Any) -> Any:
    """A date must be written ``YYYY-MM-DD`` (pydantic would take a number as seconds)."""
    if not isinstance(value, str | date):
        raise ValueError("write the date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class HeldIn(_Body):
    """A held meeting or delivered workshop."""

    date: IsoDate
    notes: str | None = Field(default=None, max_length=10_000, pattern=TEXT)


class MeetingOut(BaseModel):
    id: int
    account: str
    held_on: date
    notes: str | None
    satisfies: date | None = Field(description="The due date of the meeting this one counts for")
    next_due: date | None


class MeetingRowOut(BaseModel):
    account: str
    name: str
    plan: str
    csm: str | None
    cadence: str
    due: date
    state: State
    held_on: date | None
    days: int = Field(description="Days until due; negative when past")


class WorkshopOut(BaseModel):
    id: int
    account: str
    held_on: date
    notes: str | None
    delivered: int
    included: int
    contract_year_start: date
    behind: bool


class BalanceOut(BaseModel):
    used: int
    included: Count
    remaining: Count
    overage: int


class EntitlementsOut(BaseModel):
    account: str
    plan: str
    contract_year_start: date
    contract_year_end: date = Field(description="The last day of the contract year")
    resets_on: date
    report: BalanceOut
    restore: BalanceOut
    ticket: BalanceOut
    sandbox: BalanceOut


class UseIn(_Body):
    note: str | None = Field(default=None, max_length=10_000, pattern=TEXT)
    force: StrictBool = False


class UseOut(BaseModel):
    id: int
    account: str
    kind: Kind
    overage: bool
    contract_year_start: date
    balance: BalanceOut
    notified: int = Field(description="Notices enqueued because the allowance is now used up")


def _balance(b: Balance) -> BalanceOut:
    return BalanceOut.model_validate(b.as_dict())


_DAYS = re.compile(r"^\s*(\d{1,5})\s*([dw]?)\s*$")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {**ERROR_RESPONSES[code], "model": ErrorOut} for code in (401, 404, 409, 413, 422)
}


def entitlements_router(
    db: Database,
    settings: Callable[[], Settings],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    """The router; ``settings()`` returns the configuration in force (it changes on reload)."""
    router = APIRouter(prefix="/api/v1", tags=["meetings and entitlements"])

    @router.post(
        "/accounts/{id}/meetings",
        status_code=201,
        response_model=MeetingOut,
        responses={
            **ERRORS,
            200: {"model": MeetingOut, "description": "Already recorded that day"},
        },
    )
    def record_meeting(account_id: AccountId, body: HeldIn, response: Response) -> MeetingOut:
        """Record an alignment meeting held with the account (idempotent on the date)."""
        with db.session() as session:
            row, view, created = svc.record_meeting(
                session, settings(), account_id, body.date, body.notes, clock()
            )
            response.status_code = 201 if created else 200
            period = next((p for p in view.periods if p.held_on == body.date), None)
            return MeetingOut(
                id=row.id,
                account=account_id,
                held_on=row.held_on,
                notes=row.notes,
                satisfies=period.due if period else None,
                next_due=view.next_due(),
            )

    @router.get("/meetings", response_model=list[MeetingRowOut], responses=ERRORS)
    def list_meetings(
        due_within: Annotated[
            str | None,
            Query(
                pattern=r"^\s*\d{1,5}\s*[dw]?\s*$",
                description="Only meetings due within this many days (or weeks), e.g. 30d, 2w",
            ),
        ] = None,
        overdue: Annotated[bool, Query(description="Only overdue meetings")] = False,
        csm: Annotated[str | None, Query(max_length=200, description="Person id or name")] = None,
    ) -> list[MeetingRowOut]:
        """Overdue, due and upcoming alignment meetings of the active accounts, by due date."""
        within: int | None = None
        if due_within is not None:
            match = _DAYS.match(due_within)
            if not match:
                raise ValidationError("due_within", "write a number of days like '30d'")
            within = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
        with db.read_session() as session:
            rows = svc.meeting_rows(
                session,
                settings(),
                clock(),
                csm=csm,
                due_within_days=within,
                overdue_only=overdue,
            )
        return [MeetingRowOut.model_validate(r.as_dict()) for r in rows]

    @router.post(
        "/accounts/{id}/workshops",
        status_code=201,
        response_model=WorkshopOut,
        responses=ERRORS,
    )
    def record_workshop(account_id: AccountId, body: HeldIn) -> WorkshopOut:
        """Record an onboarding workshop delivered to the account."""
        with db.session() as session:
            row, ws = svc.record_workshop(
                session, settings(), account_id, body.date, body.notes, clock()
            )
            return WorkshopOut(
                id=row.id,
                account=account_id,
                held_on=row.held_on,
                notes=row.notes,
                delivered=ws.delivered,
                included=ws.included,
                contract_year_start=ws.year.start,
                behind=ws.behind,
            )

    @router.get("/accounts/{id}/entitlements", response_model=EntitlementsOut, responses=ERRORS)
    def show_entitlements(account_id: AccountId) -> EntitlementsOut:
        """Used / included / remaining per kind for the current contract year."""
        with db.read_session() as session:
            account = get_account(session, account_id)
            year, balances = svc.entitlement_balances(session, settings(), account, clock())
            plan = account.plan
        return EntitlementsOut(
            account=account_id,
            plan=plan,
            contract_year_start=year.start,
            contract_year_end=date.fromordinal(year.end.toordinal() - 1),
            resets_on=year.end,
            report=_balance(balances["report"]),
            restore=_balance(balances["restore"]),
            ticket=_balance(balances["ticket"]),
            sandbox=_balance(balances["sandbox"]),
        )

    @router.post(
        "/accounts/{id}/entitlements/{kind}/uses",
        status_code=201,
        response_model=UseOut,
        responses=ERRORS,
    )
    def use_entitlement(
        account_id: AccountId,
        kind: Kind,
        body: Annotated[UseIn | None, Body()] = None,
    ) -> UseOut:
        """Record one use; beyond the allowance 409 unless ``force`` (recorded as overage)."""
        request = body or UseIn()
        with db.session() as session:
            result = svc.use_entitlement(
                session,
                settings(),
                account_id,
                kind,
                clock(),
                note=request.note,
                force=request.force,
            )
        return UseOut(
            id=result.use.id,
            account=account_id,
            kind=kind,
            overage=result.overage,
            contract_year_start=result.year.start,
            balance=_balance(result.balance),
            notified=result.notified,
        )

    return router
