"""The on-call rotation: who is primary and secondary at an instant, and the coming shifts.

Rules a caller must know:

* Shifts change at the weekly ``handoff`` (``"mon 09:00"``) in the rotation's ``timezone``, on
  the local wall clock, so a handoff stays at 09:00 across DST changes (that week's shift is an
  hour shorter or longer in real time).
* The rotation is anchored on a fixed reference week: shift 0 is the one that starts at the
  first handoff on or after :data:`ANCHOR_DATE` (Monday 2024-01-01). Shift ``n`` has
  ``people[n % len(people)]`` as primary and the next person in the list as secondary. The
  answer therefore depends only on the configuration and the instant, never on when the daemon
  started; reordering ``people`` changes who is on call.
* An override (``{start, end, person}``, dates inclusive, whole local days from 00:00 on
  ``start`` to 24:00 on ``end``) replaces the primary; the regular primary becomes the secondary
  (unless the override person is the regular primary, who then keeps the regular secondary).
  When overrides overlap, the one listed last wins.
* With one person there is no secondary; with nobody configured both are ``None``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = ["ANCHOR_DATE", "OnCall", "OncallLike", "Shift", "oncall_at", "parse_handoff", "shifts"]

#: The reference week: shift 0 starts at the first handoff on or after this Monday.
ANCHOR_DATE = date(2024, 1, 1)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OverrideLike(Protocol):
    @property
    def start(self) -> date: ...
    @property
    def end(self) -> date: ...
    @property
    def person(self) -> str: ...


class OncallLike(Protocol):
    """What the rotation needs; ``[oncall]`` of the config satisfies it."""

    @property
    def people(self) -> Sequence[str]: ...
    @property
    def handoff(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def overrides(self) -> Sequence[OverrideLike]: ...


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who is on call at one instant; ``override`` is True when an override set the primary."""

    primary: str | None
    secondary: str | None
    override: bool = False


@dataclass(frozen=True, slots=True)
class Shift:
    """A stretch ``[start, end)`` with the same people on call (split at handoffs and overrides)."""

    start: datetime
    end: datetime
    primary: str | None
    secondary: str | None
    override: bool = False


def parse_handoff(text: str) -> tuple[int, time]:
    """``"mon 09:00"`` -> ``(0, time(9, 0))`` (weekday 0 = Monday)."""
    try:
        day, hhmm = text.strip().lower().split()
        hours, minutes = (int(p) for p in hhmm.split(":"))
        return _WEEKDAYS.index(day), time(hours, minutes)
    except (ValueError, IndexError):
        raise ValueError(f"cannot parse handoff {text!r}; write it like 'mon 09:00'") from None


def _handoff_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0 for wall times that are skipped or repeated on DST days, like the calendar.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _shift_index(config: OncallLike, instant: datetime) -> tuple[int, datetime, datetime]:
    """The regular shift at ``instant``: ``(n, start, end)`` with ``start <= instant < end``."""
    tz = ZoneInfo(config.timezone)
    weekday, at = parse_handoff(config.handoff)
    local = instant.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    start = _handoff_instant(day, at, tz)
    if start > instant:
        day -= timedelta(days=7)
        start = _handoff_instant(day, at, tz)
    anchor = ANCHOR_DATE + timedelta(days=(weekday - ANCHOR_DATE.weekday()) % 7)
    n = (day - anchor).days // 7
    end = _handoff_instant(day + timedelta(days=7), at, tz)
    return n, start, end


def _regular(config: OncallLike, n: int) -> tuple[str | None, str | None]:
    people = list(config.people)
    if not people:
        return None, None
    primary = people[n % len(people)]
    secondary = people[(n + 1) % len(people)] if len(people) > 1 else None
    return primary, secondary


def _override_at(config: OncallLike, instant: datetime) -> OverrideLike | None:
    local_day = instant.astimezone(ZoneInfo(config.timezone)).date()
    found = None
    for override in config.overrides:
        if override.start <= local_day <= override.end:
            found = override
    return found


def oncall_at(config: OncallLike, instant: datetime) -> OnCall:
    """Primary and secondary at ``instant`` (an aware datetime); see the module docstring."""
    if instant.tzinfo is None:
        raise ValueError("oncall_at needs an aware datetime")
    n, _, _ = _shift_index(config, instant)
    primary, secondary = _regular(config, n)
    override = _override_at(config, instant)
    if override is None:
        return OnCall(primary, secondary)
    if override.person == primary:
        return OnCall(primary, secondary, override=True)
    return OnCall(override.person, primary, override=True)


def shifts(config: OncallLike, start: datetime, end: datetime) -> list[Shift]:
    """The shifts covering ``[start, end)``: split at handoffs and override boundaries, with
    consecutive identical stretches merged. The first starts at ``start``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("shifts needs aware datetimes")
    tz = ZoneInfo(config.timezone)
    cuts: set[datetime] = {start.astimezone(UTC), end.astimezone(UTC)}
    t = start.astimezone(UTC)
    while t < end:
        _, _, shift_end = _shift_index(config, t)
        if shift_end < end:
            cuts.add(shift_end)
        t = shift_end
    for override in config.overrides:
        for day in (override.start, override.end + timedelta(days=1)):
            boundary = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
            if start < boundary < end:
                cuts.add(boundary)
    ordered = sorted(cuts)
    result: list[Shift] = []
    for left, right in itertools.pairwise(ordered):
        who = oncall_at(config, left)
        if result and (result[-1].primary, result[-1].secondary, result[-1].override) == (
            who.primary,
            who.secondary,
            who.override,
        ):
            last = result[-1]
            result[-1] = Shift(last.start, right, last.primary, last.secondary, last.override)
            continue
        result.append(Shift(left, right, who.primary, who.secondary, who.override))
    return result
