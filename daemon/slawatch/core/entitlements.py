"""The entitlements ledger: what a plan includes per contract year, and whether a use fits.

Per account and contract year (from the contract start; allowances reset at each anniversary,
see :mod:`slawatch.core.contract`) a plan includes:

========  ========  ========  ==========  ========
kind      standard  business  enterprise  premium
========  ========  ========  ==========  ========
report    0         1         2           4
restore   0         1         2           4
sandbox   0         0         1           multiple
ticket    0         0         0           30
========  ========  ========  ==========  ========

(``[plans.X]`` may change any of them.) ``None`` means "multiple": no limit. A use beyond the
allowance is refused unless forced, in which case it is recorded as an overage. When a use takes
the allowance to zero the CSM is told once per contract year and kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from slawatch.core.contract import ContractYear
from slawatch.core.plans import Plan
from slawatch.core.reminder import Reminder, routine_recipients

__all__ = [
    "KINDS",
    "Balance",
    "UseDecision",
    "allowance",
    "balances",
    "decide_use",
    "exhausted_notices",
]

KINDS: tuple[str, ...] = ("report", "restore", "ticket", "sandbox")

_LABELS: Mapping[str, str] = {
    "report": "custom reports",
    "restore": "data-restore events",
    "ticket": "included tickets",
    "sandbox": "sandboxes",
}


def label(kind: str) -> str:
    """Human wording of a kind for messages (``restore`` -> ``data-restore events``)."""
    return _LABELS[kind]


def allowance(plan: Plan, kind: str) -> int | None:
    """How many uses of ``kind`` the plan includes per contract year; ``None`` = no limit."""
    if kind == "report":
        return plan.custom_reports
    if kind == "restore":
        return plan.restores
    if kind == "sandbox":
        return plan.sandboxes
    if kind == "ticket":
        return plan.included_tickets
    raise ValueError(f"unknown entitlement {kind!r}; use one of {', '.join(KINDS)}")


@dataclass(frozen=True, slots=True)
class Balance:
    """Used / included / remaining for one kind in one contract year.

    ``used`` counts every recorded use, overages included; ``remaining`` never goes below 0 and
    is ``None`` when the plan has no limit.
    """

    kind: str
    used: int
    included: int | None
    overage: int

    @property
    def remaining(self) -> int | None:
        if self.included is None:
            return None
        return max(self.included - self.used, 0)

    @property
    def exhausted(self) -> bool:
        return self.included is not None and self.used >= self.included

    def as_dict(self) -> dict[str, int | str | None]:
        return {
            "used": self.used,
            "included": self.included if self.included is not None else "multiple",
            "remaining": self.remaining if self.remaining is not None else "multiple",
            "overage": self.overage,
        }


def balances(plan: Plan, uses: Iterable[tuple[str, bool]]) -> dict[str, Balance]:
    """Balances per kind from the contract year's uses, given as (kind, overage) pairs."""
    used = dict.fromkeys(KINDS, 0)
    over = dict.fromkeys(KINDS, 0)
    for kind, overage in uses:
        used[kind] += 1
        over[kind] += int(overage)
    return {k: Balance(k, used[k], allowance(plan, k), over[k]) for k in KINDS}


@dataclass(frozen=True, slots=True)
class UseDecision:
    """Whether a use may be recorded and how.

    ``allowed`` false means refuse with ``reason``; ``overage`` marks a forced use beyond the
    allowance; ``exhausts`` is true when this use takes the allowance to zero (tell the CSM).
    """

    allowed: bool
    overage: bool
    exhausts: bool
    reason: str


def decide_use(plan: Plan, kind: str, used: int, *, force: bool = False) -> UseDecision:
    """Decide one more use of ``kind`` when ``used`` are already recorded this contract year."""
    included = allowance(plan, kind)
    what = label(kind)
    if included is None:
        return UseDecision(True, False, False, f"{plan.name} includes unlimited {what}")
    if used < included:
        left = included - used - 1
        return UseDecision(
            True, False, left == 0, f"{used + 1} of {included} {what} this contract year"
        )
    if included == 0:
        why = f"the {plan.name} plan includes no {what}"
    else:
        why = f"all {included} {what} of the {plan.name} plan are used this contract year"
    if force:
        return UseDecision(True, True, False, f"overage: {why}")
    return UseDecision(False, False, False, f"{why}; use --force to record an overage")


def exhausted_notices(
    account_id: str,
    kind: str,
    year: ContractYear,
    *,
    csm: str | None,
    plan_has_csm: bool,
    support_lead: str | None,
    included: int,
    used: int | None = None,
) -> tuple[Reminder, ...]:
    """The "allowance used up" notices: one per contract year and kind (dedupe key)."""
    used = included if used is None else used
    reason = f"all {included} {label(kind)} used in the contract year from {year.start}"
    out = []
    for recipient in routine_recipients(csm, plan_has_csm, support_lead):
        out.append(
            Reminder(
                account_id=account_id,
                kind="entitlement",
                stage="entitlement_exhausted",
                step=kind,
                repetition=0,
                recipient=recipient,
                dedupe_key=(
                    f"entitlement:{account_id}:{kind}:{year.start.isoformat()}:exhausted:"
                    f"{recipient.person}:{recipient.channel}"
                ),
                reason=reason,
                payload={
                    "entitlement": {
                        "kind": kind,
                        "label": label(kind),
                        "included": included,
                        "used": used,
                        "year_start": year.start.isoformat(),
                        "year_end": (year.end - timedelta(days=1)).isoformat(),
                    },
                    "reason": reason,
                },
            )
        )
    return tuple(out)
