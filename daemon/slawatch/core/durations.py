"""Duration syntax shared by the configuration, the CLI and the API.

Plans promise times "in business days", while paging windows are minutes of wall-clock time, so a
duration keeps its unit until it meets the calendar that gives it meaning:

* ``"30d"``: business days; one day is the calendar's ``business_day`` (e.g. 9 hours);
* ``"4h"``, ``"15m"``, ``"90s"``: business time on whichever clock applies;
* compounds such as ``"1d4h"`` or ``"1h30m"``;
* ``"immediate"``: the hotline promise, resolved by the SLA layer to ``hotline_ack_within``.

Signed offsets (``"-2h"``, ``"+0m"``) are parsed by :func:`parse_signed_duration` for escalation
rules. Nothing here reads a clock or a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True, slots=True)
class Duration:
    """A parsed duration: whole/fractional business days plus a fixed number of seconds.

    ``days`` only becomes time once a calendar says how long its business day is; that is why the
    two parts are kept apart instead of being folded into one ``timedelta`` at parse time.
    """

    days: float = 0.0
    seconds: float = 0.0
    immediate: bool = False
    text: str = ""

    def resolve(self, business_day: timedelta) -> timedelta:
        """Business time this duration stands for on a calendar with that ``business_day``.

        ``immediate`` durations must be resolved by the caller (they mean a hotline window), so
        asking for one here is a programming error.
        """
        if self.immediate:
            raise ValueError("an 'immediate' duration has no length of its own")
        return business_day * self.days + timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return self.text or format_duration(self)


def parse_duration(text: str) -> Duration:
    """Parse ``"30d"``, ``"4h"``, ``"1h30m"``, ``"90s"`` or ``"immediate"``.

    Raises ``ValueError`` with a message suitable for a config or CLI error; negative values are
    rejected (use :func:`parse_signed_duration` where a sign is meaningful).
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string like '4h', got {text!r}")
    raw = text.strip().lower()
    if raw == "immediate":
        return Duration(immediate=True, text="immediate")
    if raw.startswith("-"):
        raise ValueError(f"duration {text!r} must not be negative")
    if not raw:
        raise ValueError("empty duration; write e.g. '30d', '4h', '15m' or '90s'")
    pos = 0
    days = 0.0
    seconds = 0.0
    seen: set[str] = set()
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        value, unit = float(match.group(1)), match.group(2)
        if unit in seen:
            raise ValueError(f"duration {text!r} repeats the unit '{unit}'")
        seen.add(unit)
        if unit == "d":
            days += value
        else:
            seconds += value * _UNIT_SECONDS[unit]
        pos = match.end()
    if pos != len(raw) or not seen:
        raise ValueError(
            f"cannot parse duration {text!r}; write e.g. '30d' (business days), '4h', '15m', "
            "'90s', '1h30m' or 'immediate'"
        )
    return Duration(days=days, seconds=seconds, text=raw)


def parse_signed_duration(text: str) -> tuple[int, Duration]:
    """Parse ``"-2h"`` / ``"+0m"`` into ``(sign, duration)`` where sign is -1 or +1.

    A bare ``"2h"`` without a sign is rejected: in escalation rules the sign says whether the
    offset is before or after the due time, and guessing it would page people at the wrong time.
    """
    raw = text.strip() if isinstance(text, str) else ""
    if not raw or raw[0] not in "+-":
        raise ValueError(f"offset {text!r} needs a sign: '-2h' before the due time, '+0m' after")
    sign = -1 if raw[0] == "-" else 1
    duration = parse_duration(raw[1:])
    if duration.immediate:
        raise ValueError(f"offset {text!r} cannot be 'immediate'")
    return sign, duration


def parse_wall_duration(text: str) -> timedelta:
    """A plain wall-clock duration (``"15m"``, ``"2s"``); business days are not allowed here.

    Used for things that happen on the real clock: the hotline acknowledgement window, paging
    repeats, the scan interval.
    """
    duration = parse_duration(text)
    if duration.immediate or duration.days:
        raise ValueError(f"{text!r} must be in hours, minutes or seconds, e.g. '15m'")
    return timedelta(seconds=duration.seconds)


def format_duration(value: Duration | timedelta) -> str:
    """Render back to the config syntax (``"1d"``, ``"4h30m"``); used in summaries and docs."""
    if isinstance(value, Duration):
        if value.immediate:
            return "immediate"
        days_part = f"{value.days:g}d" if value.days else ""
        rest = format_duration(timedelta(seconds=value.seconds)) if value.seconds else ""
        return (days_part + (rest if rest != "0s" else "")) or "0s"
    total = round(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rem = divmod(total, 3600)
    minutes, seconds = divmod(rem, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{seconds}s" if seconds else "")
    return sign + ("".join(parts) or "0s")


def humanize(value: timedelta, business_day: timedelta | None = None) -> str:
    """Words for people reading Slack or SMS: ``"1 business day 2 hours"``, ``"45 minutes"``.

    With ``business_day`` given, whole business days are counted first, because "9 hours" of a
    9-hour business day reads better as "1 business day".
    """
    total = int(abs(value.total_seconds()))
    parts: list[str] = []
    if business_day is not None and business_day.total_seconds() > 0:
        day_s = int(business_day.total_seconds())
        days, total = divmod(total, day_s)
        if days:
            parts.append(f"{days} business day{'s' if days != 1 else ''}")
    hours, rem = divmod(total, 3600)
    minutes, seconds = divmod(rem, 60)
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    if not parts:
        parts.append(f"{seconds} second{'s' if seconds != 1 else ''}")
    return " ".join(parts[:2])
