"""Business time: how much working time lies between two instants, and where a span of it ends.

A :class:`BusinessCalendar` answers two questions for the SLA clock:

* ``elapsed(start, end)``: business time in ``[start, end)``, negative when ``end < start``;
* ``add(start, delta)``: the earliest instant ``t >= start`` with ``elapsed(start, t) == delta``
  (for a negative ``delta``: the latest ``t <= start`` with ``elapsed(t, start) == -delta``).

Semantics a caller must know:

* Business time is real elapsed time (UTC seconds) inside working intervals. A DST change inside
  an interval changes its length; wall times that do not exist or are ambiguous map with
  ``fold=0``.
* An interval whose end is not after its start (``"22:00-06:00"``) runs into the next day and
  belongs to the date it starts on, so a holiday on that date closes it.
* ``add(s, timedelta(0))`` is ``s`` even outside working hours; a result that lands exactly on a
  closing time is that closing instant (Friday 18:00, not Monday 09:00).
* Naive datetimes are rejected: business time has no meaning without a zone.

Speed: the working intervals are laid out once, in UTC epoch seconds, as a flat sorted list of
boundaries with the cumulative business seconds at each. A call is then two bisections, so its
cost does not grow with the span. The table covers a window of years and is extended (rebuilt
over the wider window) when a query falls outside it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = [
    "WEEKDAYS",
    "BusinessCalendar",
    "Interval",
    "NaiveDatetimeError",
    "parse_interval",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_S = 86400
_MIN_YEAR = 1971
_MAX_YEAR = 9000


class NaiveDatetimeError(ValueError):
    """A datetime without a time zone was given where an instant is required."""


@dataclass(frozen=True, slots=True)
class Interval:
    """Working time on one date, in minutes after that date's local midnight.

    ``end_min`` may exceed 1440 for intervals that run past midnight (``"22:00-06:00"`` is
    ``(1320, 1800)``); ``"00:00-24:00"`` is ``(0, 1440)``.
    """

    start_min: int
    end_min: int

    @property
    def minutes(self) -> int:
        return self.end_min - self.start_min

    def __str__(self) -> str:
        def fmt(m: int) -> str:
            m = m - 1440 if m > 1440 else m
            return f"{m // 60:02d}:{m % 60:02d}"

        return f"{fmt(self.start_min)}-{fmt(self.end_min)}"


def _parse_hhmm(text: str, *, allow_24: bool) -> int:
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ValueError(f"{text!r} is not a time like '09:00'")
    hours, minutes = int(parts[0]), int(parts[1])
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_24)):
        raise ValueError(f"{text!r} is not a valid time of day")
    return hours * 60 + minutes


def parse_interval(text: str) -> Interval:
    """Parse ``"09:00-18:00"``; an end not after the start runs into the next day.

    ``"00:00-24:00"`` is the whole day. ``"09:00-09:00"`` is rejected: it is either a typo or a
    24-hour shift, and the latter is written ``"09:00-09:00+1"``... which we do not support, so
    we ask for two intervals instead of guessing.
    """
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f"malformed interval {text!r}; write it like '09:00-18:00'")
    left, right = text.split("-")
    try:
        start = _parse_hhmm(left, allow_24=False)
        end = _parse_hhmm(right, allow_24=True)
    except ValueError as exc:
        raise ValueError(f"malformed interval {text!r}: {exc}") from None
    if end == start:
        raise ValueError(f"interval {text!r} is empty")
    if end < start:
        end += 1440
    return Interval(start, end)


def _check_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name} {value.isoformat()} has no time zone; pass an aware datetime"
        )


class BusinessCalendar:
    """A named working-time calendar; see the module docstring for its semantics.

    Construct it through the configuration (``load_config(...).calendars[name]``) or directly in
    tests. It is safe to share between threads for reading once built; extension of the table is
    a rebuild followed by attribute swaps, which at worst repeats work.
    """

    __slots__ = (
        "_bounds",
        "_cum",
        "_first_day",
        "_hi",
        "_last_day",
        "_lo",
        "business_day",
        "closed_dates",
        "holiday_checker",
        "name",
        "open_dates",
        "open_hours",
        "timezone",
        "weekly",
    )

    def __init__(
        self,
        name: str,
        timezone: tzinfo | str,
        weekly: Mapping[str, Sequence[Interval]],
        *,
        holiday_checker: Callable[[date], bool] | None = None,
        closed_dates: Iterable[date] = (),
        open_dates: Iterable[date] = (),
        open_hours: Sequence[Interval] | None = None,
        business_day: timedelta | None = None,
    ) -> None:
        self.name = name
        self.timezone: tzinfo = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        unknown = set(weekly) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday(s) {sorted(unknown)}; use {', '.join(WEEKDAYS)}")
        self.weekly: tuple[tuple[Interval, ...], ...] = tuple(
            tuple(sorted(weekly.get(day, ()), key=lambda i: i.start_min)) for day in WEEKDAYS
        )
        if not any(self.weekly):
            raise ValueError("a calendar needs working hours on at least one weekday")
        self.holiday_checker = holiday_checker
        self.closed_dates = frozenset(closed_dates)
        self.open_dates = frozenset(open_dates)
        both = self.closed_dates & self.open_dates
        if both:
            raise ValueError(f"dates listed as both open and closed: {sorted(both)}")
        self.open_hours = (
            tuple(sorted(open_hours, key=lambda i: i.start_min))
            if open_hours
            else self._most_common_day()
        )
        self.business_day = business_day or self._default_business_day()
        if self.business_day <= timedelta(0):
            raise ValueError("business_day must be positive")
        self._bounds: list[float] = []
        self._cum: list[float] = []
        self._lo = float("inf")
        self._hi = float("-inf")
        self._first_day = date.max
        self._last_day = date.min

    # ----------------------------------------------------------------- construction helpers
    @classmethod
    def always_open(cls, name: str = "24x7") -> BusinessCalendar:
        """The built-in ``24x7`` calendar: every instant is working time, one day is 24 hours."""
        whole = (Interval(0, 1440),)
        return cls(name, UTC, dict.fromkeys(WEEKDAYS, whole), business_day=timedelta(days=1))

    def _most_common_day(self) -> tuple[Interval, ...]:
        days = [d for d in self.weekly if d]
        counts = Counter(days)
        return max(counts, key=lambda d: (counts[d], sum(i.minutes for i in d)))

    def _default_business_day(self) -> timedelta:
        lengths = Counter(sum(i.minutes for i in d) for d in self.weekly if d)
        minutes = max(lengths, key=lambda m: (lengths[m], m))
        return timedelta(minutes=minutes)

    # ----------------------------------------------------------------------- schedule queries
    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The working intervals that start on ``day`` (after holidays and extra dates)."""
        if day in self.closed_dates:
            return ()
        if day in self.open_dates:
            return self.open_hours
        if self.holiday_checker is not None and self.holiday_checker(day):
            return ()
        return self.weekly[day.weekday()]

    def is_working_day(self, day: date) -> bool:
        return bool(self.intervals_on(day))

    # ------------------------------------------------------------------------- the table
    def _build(self, first_day: date, last_day: date) -> None:
        """Lay out every interval starting in ``[first_day, last_day)`` as UTC epoch bounds."""
        tz = self.timezone
        lo = datetime(first_day.year, first_day.month, first_day.day, tzinfo=tz).timestamp()
        hi = datetime(last_day.year, last_day.month, last_day.day, tzinfo=tz).timestamp()
        bounds: list[float] = [lo, lo]
        cum: list[float] = [0.0, 0.0]
        total = 0.0
        one_day = timedelta(days=1)
        # Start one day early: an overnight interval of the previous date ("22:00-06:00") runs
        # into first_day, and its part after ``lo`` belongs in the table (clipped below).
        day = first_day - one_day
        while day < last_day:
            intervals = self.intervals_on(day)
            if intervals:
                midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
                for interval in intervals:
                    start = (midnight + timedelta(minutes=interval.start_min)).timestamp()
                    end = (midnight + timedelta(minutes=interval.end_min)).timestamp()
                    start = max(start, bounds[-1])
                    end = min(end, hi)
                    if end <= start:
                        continue
                    if start == bounds[-1] and len(bounds) > 2:
                        # Touching the previous interval: one continuous stretch, so there is
                        # no closing instant between them (a 24x7 day does not close at 00:00).
                        total += end - bounds[-1]
                        bounds[-1] = end
                        cum[-1] = total
                        continue
                    bounds.append(start)
                    cum.append(total)
                    total += end - start
                    bounds.append(end)
                    cum.append(total)
            day += one_day
        self._bounds, self._cum = bounds, cum
        self._first_day, self._last_day = first_day, last_day
        self._lo, self._hi = lo, hi

    def _ensure(self, t: float) -> None:
        """Grow the table (doubling the window) until it covers epoch second ``t``."""
        if self._lo <= t < self._hi:
            return
        around = datetime.fromtimestamp(min(max(t, 0.0), 253402214400.0), UTC).date()
        if self._first_day > self._last_day:  # empty: start with a few years around t
            first = date(max(around.year - 1, _MIN_YEAR), 1, 1)
            last = date(min(around.year + 4, _MAX_YEAR), 1, 1)
        else:
            span = self._last_day - self._first_day
            first, last = self._first_day, self._last_day
            if t < self._lo:
                first = max(min(first - span, around - timedelta(days=7)), date(_MIN_YEAR, 1, 1))
            if t >= self._hi:
                last = min(max(last + span, around + timedelta(days=7)), date(_MAX_YEAR, 1, 1))
        if (first, last) != (self._first_day, self._last_day):
            self._build(first, last)
        if not (self._lo <= t < self._hi):
            # Clamped at the supported years: answering from the table would be silently wrong.
            raise ValueError(
                f"calendar {self.name!r}: instant outside the supported years "
                f"{_MIN_YEAR}-{_MAX_YEAR}"
            )

    def _cum_at(self, t: float) -> float:
        if not (self._lo <= t < self._hi):
            self._ensure(t)
        bounds = self._bounds
        i = bisect_right(bounds, t)
        if i & 1:
            return self._cum[i - 1] + (t - bounds[i - 1])
        return self._cum[i - 1]

    # ------------------------------------------------------------------------ public API
    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time in ``[start, end)``; negative when ``end`` is before ``start``."""
        if start.tzinfo is None or end.tzinfo is None:
            _check_aware(start, "start")
            _check_aware(end, "end")
        s = start.timestamp()
        e = end.timestamp()
        if e < s:
            return -self.elapsed(end, start)
        if not (self._lo <= s and e < self._hi):
            self._ensure(s)
            self._ensure(e)
        bounds = self._bounds
        cum = self._cum
        i = bisect_right(bounds, s)
        cs = cum[i - 1] + (s - bounds[i - 1]) if i & 1 else cum[i - 1]
        i = bisect_right(bounds, e)
        ce = cum[i - 1] + (e - bounds[i - 1]) if i & 1 else cum[i - 1]
        return timedelta(0, ce - cs)

    def add(self, start: datetime, delta: timedelta) -> datetime:
        """See the module docstring; the result is in ``start``'s time zone."""
        if start.tzinfo is None:
            _check_aware(start, "start")
        if not delta:
            return start
        s = start.timestamp()
        amount = delta.total_seconds()
        while True:
            c = self._cum_at(s) + amount
            cum = self._cum
            if amount > 0:
                if c > cum[-1]:
                    self._ensure(self._hi + 1.0)
                    continue
                j = bisect_left(cum, c)
                # Landing exactly on a boundary: the closing instant (bisect_left finds the
                # close before the equal-valued next open).
                t = self._bounds[j] if cum[j] == c else self._bounds[j - 1] + (c - cum[j - 1])
            else:
                if c < 0.0:
                    self._ensure(self._lo - 1.0)
                    continue
                j = bisect_right(cum, c)
                t = self._bounds[j - 1] + (c - cum[j - 1])
            return datetime.fromtimestamp(t, start.tzinfo)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls inside a working interval (closing instants are closed)."""
        _check_aware(at, "at")
        t = at.timestamp()
        self._ensure(t)
        return bool(bisect_right(self._bounds, t) & 1)

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself when open, else the next opening instant (in ``at``'s zone).

        Used to hold Slack and email escalations until the recipient's working hours.
        """
        _check_aware(at, "at")
        t = at.timestamp()
        while True:
            self._ensure(t)
            i = bisect_right(self._bounds, t)
            if i & 1:
                return at
            if i < len(self._bounds):
                return datetime.fromtimestamp(self._bounds[i], at.tzinfo)
            self._ensure(self._hi + 1.0)

    def local(self, at: datetime) -> datetime:
        """``at`` shown in this calendar's time zone."""
        return at.astimezone(self.timezone)

    def day_start(self, day: date) -> datetime:
        """Local midnight of ``day`` as an aware datetime (fold=0 on DST days)."""
        return datetime.combine(day, time(0), tzinfo=self.timezone)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, {self.timezone})"
