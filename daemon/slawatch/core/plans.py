"""The support plans slawatch enforces, exactly as the reference document sells them.

Source: ``shared/reference/support-packages.txt`` (Standard, Business, Enterprise, Premium). The
values here are the built-in defaults; the configuration may override any cell
(``[plans.enterprise.targets.high] workaround = "1d"``) and a premium account may carry its own
overrides. Premium ("Custom SLA") starts from Enterprise's table.

A target cell is a :class:`~slawatch.core.durations.Duration`, ``None`` for "-" (no target), or
the ``immediate`` duration, which the SLA layer turns into the hotline acknowledgement window on
the 24x7 clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from slawatch.core.durations import Duration, parse_duration

PRIORITIES: tuple[str, ...] = ("high", "medium", "low", "cosmetic")
TARGETS: tuple[str, ...] = ("response", "workaround", "resolution")
PLAN_NAMES: tuple[str, ...] = ("standard", "business", "enterprise", "premium")

#: Months between alignment meetings, by the cadence names the config accepts.
CADENCE_MONTHS: Mapping[str, int] = MappingProxyType(
    {"none": 0, "biannual": 6, "quarterly": 3, "monthly": 1, "annual": 12}
)

TargetTable = Mapping[str, Mapping[str, Duration | None]]


def _table(rows: dict[str, tuple[str, str, str]]) -> TargetTable:
    def cell(text: str) -> Duration | None:
        return None if text == "-" else parse_duration(text)

    return MappingProxyType(
        {
            priority: MappingProxyType(
                {target: cell(value) for target, value in zip(TARGETS, row, strict=True)}
            )
            for priority, row in rows.items()
        }
    )


@dataclass(frozen=True)
class Plan:
    """One support plan: its queue rank, entitlements and SLA target table.

    ``sandboxes`` is ``None`` for "multiple" (no limit). ``meeting_cadence_months`` is 0 when the
    plan has no alignment meetings. ``calendar`` names the calendar the plan's targets are
    counted on when the account has none of its own (``None``: the default calendar).
    """

    name: str
    rank: int
    hotline: bool
    csm: bool
    meeting_cadence_months: int
    workshops: int
    custom_reports: int
    restores: int
    sandboxes: int | None
    included_tickets: int
    targets: TargetTable = field(repr=False)
    calendar: str | None = None

    def target(self, priority: str, target: str) -> Duration | None:
        """The promised duration for ``priority``/``target``; ``None`` means no target."""
        return self.targets[priority][target]

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Duration | None]]) -> Plan:
        """A copy whose target cells are replaced by ``overrides`` (premium custom SLAs)."""
        if not overrides:
            return self
        merged = {p: dict(row) for p, row in self.targets.items()}
        for priority, row in overrides.items():
            merged[priority].update(row)
        frozen = MappingProxyType({p: MappingProxyType(row) for p, row in merged.items()})
        return replace(self, targets=frozen)


_ENTERPRISE = _table(
    {
        "high": ("immediate", "1d", "30d"),
        "medium": ("1d", "3d", "60d"),
        "low": ("3d", "-", "-"),
        "cosmetic": ("3d", "-", "-"),
    }
)

BUILTIN_PLANS: Mapping[str, Plan] = MappingProxyType(
    {
        "standard": Plan(
            name="standard",
            rank=1,
            hotline=False,
            csm=False,
            meeting_cadence_months=0,
            workshops=0,
            custom_reports=0,
            restores=0,
            sandboxes=0,
            included_tickets=0,
            targets=_table(
                {
                    "high": ("2d", "5d", "60d"),
                    "medium": ("3d", "10d", "90d"),
                    "low": ("5d", "-", "-"),
                    "cosmetic": ("5d", "-", "-"),
                }
            ),
        ),
        "business": Plan(
            name="business",
            rank=2,
            hotline=True,
            csm=False,
            meeting_cadence_months=6,
            workshops=3,
            custom_reports=1,
            restores=1,
            sandboxes=0,
            included_tickets=0,
            targets=_table(
                {
                    "high": ("immediate", "2d", "30d"),
                    "medium": ("3d", "5d", "60d"),
                    "low": ("5d", "-", "-"),
                    "cosmetic": ("5d", "-", "-"),
                }
            ),
        ),
        "enterprise": Plan(
            name="enterprise",
            rank=3,
            hotline=True,
            csm=True,
            meeting_cadence_months=3,
            workshops=6,
            custom_reports=2,
            restores=2,
            sandboxes=1,
            included_tickets=0,
            targets=_ENTERPRISE,
        ),
        "premium": Plan(
            name="premium",
            rank=4,
            hotline=True,
            csm=True,
            meeting_cadence_months=3,
            workshops=9,
            custom_reports=4,
            restores=4,
            sandboxes=None,
            included_tickets=30,
            targets=_ENTERPRISE,
        ),
    }
)
