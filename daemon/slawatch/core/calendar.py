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
over a window twice as wide, or wider) when a query falls outside it. The rest of a call's cost
is converting datetimes to epoch seconds and back and building the timedelta; the hot paths are
written flat for that reason (see ``_epoch`` and ``bench/calendar_bench.py``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from slawatch.errors import SlawatchError

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
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: UTC offsets seen so far, as whole seconds (a zone has only a handful of distinct offsets).
_OFFSET_SECONDS: dict[timedelta, int] = {}


class NaiveDatetimeError(SlawatchError, ValueError):
    """A datetime without a time zone was given where an instant is required.

    A :class:`~slawatch.errors.SlawatchError` (so the CLI and the API report it as bad input)
    and a ``ValueError`` (what Python callers expect for a bad argument value).
    """


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


def _epoch(value: datetime) -> float:
    """``value.timestamp()`` for an aware datetime, computed faster for zones like ZoneInfo.

    ``timestamp()`` on a ZoneInfo datetime is the most expensive step of a calendar call. It is
    the local wall time minus ``utcoffset()`` (which already applies fold=0/1 exactly as
    ``timestamp()`` does), so this computes that difference directly, with the same result to
    the last bit: whole seconds are exact floats, and microseconds are divided once, as CPython
    does. (UTC datetimes are left to ``timestamp()``, which is fast for them.) Raises
    :class:`NaiveDatetimeError` for naive datetimes.
    """
    tz = value.tzinfo
    offset = tz.utcoffset(value) if tz is not None else None
    if offset is None:
        _check_aware(value, "datetime")
        raise AssertionError("unreachable")  # pragma: no cover
    seconds = _OFFSET_SECONDS.get(offset)
    if seconds is None:
        if offset.microseconds:  # pragma: no cover - no real zone has sub-second offsets
            return value.timestamp()
        seconds = _OFFSET_SECONDS[offset] = offset.days * _DAY_S + offset.seconds
    # Floats throughout (exact: whole seconds stay far below 2**53): comparing and mixing
    # ints with the table's floats would cost more than the conversion saves.
    whole = (
        (value.toordinal() - _EPOCH_ORDINAL) * 86400.0
        + value.hour * 3600
        + value.minute * 60
        + value.second
        - seconds
    )
    micro = value.microsecond
    return (whole * 1e6 + micro) / 1e6 if micro else whole


#: The laid-out working time: ``(lo, hi, first_day, last_day, bounds, cum)``. ``bounds`` are UTC
#: epoch seconds, alternately opening and closing instants (after a leading empty pair at
#: ``lo``), and ``cum[i]`` is the business seconds from ``lo`` to ``bounds[i]``. It is one tuple
#: so that a thread extending it swaps everything at once and a reader never mixes two tables.
_Table = tuple[float, float, date, date, list[float], list[float]]
_EMPTY: _Table = (float("inf"), float("-inf"), date.max, date.min, [], [])


class BusinessCalendar:
    """A named working-time calendar; see the module docstring for its semantics.

    Construct it through the configuration (``load_config(...).calendars[name]``) or directly in
    tests. It is safe to share between threads: extending the table builds a new one and swaps
    it in as a single attribute, and each call works on the table it read, so a concurrent
    extension at worst repeats work.
    """

    __slots__ = (
        "_table",
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
        self._table: _Table = _EMPTY

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
    def _build(self, first_day: date, last_day: date) -> _Table:
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
                    # Wall-clock arithmetic on purpose: "18:00" is 18:00 local on DST days too.
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
        return (lo, hi, first_day, last_day, bounds, cum)

    def _extend(self, table: _Table, t: float) -> _Table:
        """A table that covers ``table``'s window and epoch second ``t`` (doubling the window).

        The new table is also stored for later calls; the caller uses the returned one, so a
        concurrent extension by another thread cannot pull the ground from under it.
        """
        lo, hi, first_day, last_day = table[0], table[1], table[2], table[3]
        if lo <= t < hi:
            return table
        around = datetime.fromtimestamp(min(max(t, 0.0), 253402214400.0), UTC).date()
        if first_day > last_day:  # empty: start with a few years around t
            first = date(max(around.year - 1, _MIN_YEAR), 1, 1)
            last = date(min(around.year + 4, _MAX_YEAR), 1, 1)
        else:
            span = last_day - first_day
            first, last = first_day, last_day
            if t < lo:
                first = max(min(first - span, around - timedelta(days=7)), date(_MIN_YEAR, 1, 1))
            if t >= hi:
                last = min(max(last + span, around + timedelta(days=7)), date(_MAX_YEAR, 1, 1))
        if (first, last) != (first_day, last_day):
            table = self._build(first, last)
            self._table = table
        if not (table[0] <= t < table[1]):
            # Clamped at the supported years: answering from the table would be silently wrong.
            raise ValueError(
                f"calendar {self.name!r}: instant outside the supported years "
                f"{_MIN_YEAR}-{_MAX_YEAR}"
            )
        return table

    def _covering(self, *instants: float) -> _Table:
        """The current table, extended until it covers every one of ``instants``."""
        table = self._table
        for t in instants:
            table = self._extend(table, t)
        for t in instants:  # a later extension only widens the window, but check anyway
            if not (table[0] <= t < table[1]):
                return self._covering(*instants)
        return table

    # ------------------------------------------------------------------------ public API
    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time in ``[start, end)``; negative when ``end`` is before ``start``."""
        # The hot path of the SLA clock, kept flat on purpose: no helper calls for UTC inputs,
        # two bisections, one positional timedelta (keywords cost more).
        s = start.timestamp() if start.tzinfo is UTC else _epoch(start)
        e = end.timestamp() if end.tzinfo is UTC else _epoch(end)
        table = self._table
        if not (table[0] <= s < table[1] and table[0] <= e < table[1]):
            table = self._covering(s, e)
        bounds = table[4]
        cum = table[5]
        i = bisect_right(bounds, s)
        cs = cum[i - 1] + (s - bounds[i - 1]) if i & 1 else cum[i - 1]
        i = bisect_right(bounds, e)
        ce = cum[i - 1] + (e - bounds[i - 1]) if i & 1 else cum[i - 1]
        return timedelta(0, ce - cs)

    def add(self, start: datetime, delta: timedelta) -> datetime:
        """See the module docstring; the result is in ``start``'s time zone."""
        tz = start.tzinfo
        if tz is None:
            _check_aware(start, "start")
        if not delta:
            return start
        s = start.timestamp() if tz is UTC else _epoch(start)
        amount = delta.total_seconds()
        table = self._table
        if not (table[0] <= s < table[1]):
            table = self._covering(s)
        while True:
            bounds = table[4]
            cum = table[5]
            i = bisect_right(bounds, s)
            c = (cum[i - 1] + (s - bounds[i - 1]) if i & 1 else cum[i - 1]) + amount
            if amount > 0:
                if c > cum[-1]:
                    table = self._extend(table, table[1] + 1.0)
                    continue
                j = bisect_left(cum, c)
                # Landing exactly on a boundary: the closing instant (bisect_left finds the
                # close before the equal-valued next open).
                t = bounds[j] if cum[j] == c else bounds[j - 1] + (c - cum[j - 1])
            else:
                if c < 0.0:
                    table = self._extend(table, table[0] - 1.0)
                    continue
                j = bisect_right(cum, c)
                t = bounds[j - 1] + (c - cum[j - 1])
            return datetime.fromtimestamp(t, tz)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls inside a working interval (closing instants are closed)."""
        t = _epoch(at)
        return bool(bisect_right(self._covering(t)[4], t) & 1)

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself when open, else the next opening instant (in ``at``'s zone).

        Used to hold Slack and email escalations until the recipient's working hours.
        """
        t = _epoch(at)
        table = self._covering(t)
        while True:
            bounds = table[4]
            i = bisect_right(bounds, t)
            if i & 1:
                return at
            if i < len(bounds):
                return datetime.fromtimestamp(bounds[i], at.tzinfo)
            table = self._extend(table, table[1] + 1.0)

    def local(self, at: datetime) -> datetime:
        """``at`` shown in this calendar's time zone."""
        return at.astimezone(self.timezone)

    def day_start(self, day: date) -> datetime:
        """Local midnight of ``day`` as an aware datetime (fold=0 on DST days)."""
        return datetime.combine(day, time(0), tzinfo=self.timezone)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, {self.timezone})"
