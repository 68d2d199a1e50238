"""Property test: :class:`BusinessCalendar` against a deliberately simple brute-force model.

The model below is written to be obviously correct, not fast. For each local date it takes the
working intervals straight from the calendar's definition (closed date -> none, extra open date
-> ``open_hours``, public holiday -> none, else the weekday's hours), turns each end into an
instant by adding minutes to local midnight as *wall* time and attaching the zone with fold=0,
and keeps the sorted union of those instants in UTC. Then:

* ``elapsed(s, e)`` sums the overlap of ``[s, e)`` with every interval;
* ``add(s, d)`` walks the intervals forwards (or backwards for a negative ``d``) from ``s`` and
  spends ``d`` interval by interval; the first interval that can hold what is left holds the
  answer, so an exact fit ends on the closing instant (forwards) or the opening (backwards).

Instants are whole seconds, so the implementation's float arithmetic must be exact. The run is
deterministic (``derandomize=True``) and kept to a few seconds per calendar.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slawatch.core.calendar import BusinessCalendar, _epoch, parse_interval

MODEL_FIRST_DAY = date(2020, 1, 1)
MODEL_LAST_DAY = date(2036, 1, 1)
# Instants under test lie in [QUERY_LO, QUERY_HI); additions are capped so that results stay
# well inside the model's years.
QUERY_LO = datetime(2023, 1, 1, tzinfo=UTC)
QUERY_HI = datetime(2033, 1, 1, tzinfo=UTC)
MAX_ADD = timedelta(days=700)  # of business time: at least ~2 calendar years on any calendar

Spec = dict[str, list[str]]


@dataclass
class CalendarSpec:
    """A calendar's definition in plain data, read by both the model and the real class."""

    name: str
    zone: str
    hours: Spec
    country: str | None = None
    closed: tuple[date, ...] = ()
    open: tuple[date, ...] = ()
    open_hours: list[str] | None = None
    # Extra instants around which to look harder (DST changes, holidays).
    hot_spots: list[datetime] = field(default_factory=list)

    def build(self) -> BusinessCalendar:
        checker: Callable[[date], bool] | None = None
        if self.country:
            table = holidays.country_holidays(self.country)
            checker = table.__contains__
        return BusinessCalendar(
            self.name,
            self.zone,
            {day: [parse_interval(i) for i in items] for day, items in self.hours.items()},
            holiday_checker=checker,
            closed_dates=self.closed,
            open_dates=self.open,
            open_hours=[parse_interval(i) for i in self.open_hours] if self.open_hours else None,
        )


# ------------------------------------------------------------------------------- the model
def _minutes(text: str) -> tuple[int, int]:
    """'22:00-06:00' -> (1320, 1800): minutes after the start date's midnight."""
    left, right = text.split("-")
    start = int(left[:2]) * 60 + int(left[3:])
    end = int(right[:2]) * 60 + int(right[3:])
    if end <= start:
        end += 24 * 60
    return start, end


class Model:
    """Working time as a plain sorted list of disjoint UTC intervals."""

    def __init__(self, spec: CalendarSpec) -> None:
        zone = ZoneInfo(spec.zone)
        weekday_names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        public = holidays.country_holidays(spec.country) if spec.country else {}
        if spec.open_hours is not None:
            open_hours = spec.open_hours
        else:  # the rule: the most common working day (ties: the longest)
            days = [tuple(spec.hours[d]) for d in weekday_names if spec.hours.get(d)]
            open_hours = list(max(days, key=lambda d: (days.count(d), len(d))))
        raw: list[tuple[datetime, datetime]] = []
        day = MODEL_FIRST_DAY
        while day < MODEL_LAST_DAY:
            if day in spec.closed:
                texts: list[str] = []
            elif day in spec.open:
                texts = open_hours
            elif day in public:
                texts = []
            else:
                texts = spec.hours.get(weekday_names[day.weekday()], [])
            midnight = datetime(day.year, day.month, day.day)  # naive: wall-clock arithmetic
            for text in texts:
                start_min, end_min = _minutes(text)
                wall_start = midnight + timedelta(minutes=start_min)
                wall_end = midnight + timedelta(minutes=end_min)
                start = wall_start.replace(tzinfo=zone, fold=0).astimezone(UTC)
                end = wall_end.replace(tzinfo=zone, fold=0).astimezone(UTC)
                if end > start:
                    raw.append((start, end))
            day += timedelta(days=1)
        raw.sort()
        merged: list[list[datetime]] = []
        for start, end in raw:  # union of overlapping or touching intervals
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.intervals = [(s, e) for s, e in merged]
        self.ends = [e for _, e in self.intervals]

    def _first_after(self, instant: datetime) -> int:
        """Index of the first interval ending after ``instant``; all before it end at or before
        ``instant`` and cannot contribute (this only skips work, it changes no answer)."""
        return bisect_right(self.ends, instant)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        # Everything in UTC: same-zone aware subtraction in Python is wall-clock time.
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end < start:
            return -self.elapsed(end, start)
        total = timedelta(0)
        for a, b in self.intervals[self._first_after(start) :]:
            if a >= end:
                break
            total += min(b, end) - max(a, start)
        return total

    def add(self, start: datetime, delta: timedelta) -> datetime:
        if delta == timedelta(0):
            return start
        zone = start.tzinfo
        at = start.astimezone(UTC)
        left = abs(delta)
        if delta > timedelta(0):
            for a, b in self.intervals[self._first_after(at) :]:
                a = max(a, at)
                if left <= b - a:
                    return (a + left).astimezone(zone)
                left -= b - a
        else:
            for a, b in reversed(self.intervals[: self._first_after(at) + 1]):
                if a >= at:
                    continue
                b = min(b, at)
                if left <= b - a:
                    return (b - left).astimezone(zone)
                left -= b - a
        raise AssertionError("the model ran off its years; widen MODEL_FIRST/LAST_DAY")


# --------------------------------------------------------------------------- the calendars
def _sofia_dst() -> list[datetime]:
    return [datetime(y, m, d, 1, tzinfo=UTC) for y, m, d in ((2026, 3, 29), (2026, 10, 25))]


CALENDARS = [
    CalendarSpec(
        "sofia",
        "Europe/Sofia",
        {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        country="BG",
        closed=(date(2026, 12, 31),),
        open=(date(2026, 6, 13),),
        open_hours=["10:00-14:00"],
        hot_spots=[
            *_sofia_dst(),
            datetime(2026, 12, 23, 15, tzinfo=UTC),
            datetime(2027, 4, 29, 15, tzinfo=UTC),
            datetime(2026, 6, 12, 15, tzinfo=UTC),
        ],
    ),
    CalendarSpec(
        "ny-split",
        "America/New_York",
        {
            **{d: ["09:00-12:00", "13:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            # Starts in the repeated autumn hour and ends in the spring gap (fold=0 for both).
            "sun": ["01:30-02:30"],
        },
        hot_spots=[
            datetime(2026, 3, 8, 7, tzinfo=UTC),
            datetime(2026, 11, 1, 6, tzinfo=UTC),
        ],
    ),
    CalendarSpec(
        "night",
        "Europe/Sofia",
        {
            "mon": ["22:00-06:00"],
            "tue": ["22:00-06:00"],
            "wed": ["22:00-06:00"],
            "thu": ["22:00-06:00"],
            "fri": ["18:00-20:00", "22:00-06:00"],
            # Ends at 03:30 on Sunday: in the spring gap and in the repeated autumn hour.
            "sat": ["23:00-03:30"],
            "sun": ["20:00-04:00"],
        },
        country="BG",
        hot_spots=[*_sofia_dst(), datetime(2026, 12, 23, 20, tzinfo=UTC)],
    ),
    CalendarSpec(
        "allday",
        "Europe/Sofia",
        {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        hot_spots=_sofia_dst(),
    ),
]


class Pair:
    """One calendar under test, shared across examples (warm table) plus the model."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.model = Model(spec)
        self.shared = spec.build()
        self.hot = sorted(spec.hot_spots)


@pytest.fixture(scope="module", params=CALENDARS, ids=lambda spec: spec.name)
def pair(request: pytest.FixtureRequest) -> Pair:
    return Pair(request.param)


def instants(hot: list[datetime]) -> st.SearchStrategy[datetime]:
    """Whole-second instants: anywhere in the test years, or within days of a hot spot."""
    span_s = int((QUERY_HI - QUERY_LO).total_seconds())
    anywhere = st.integers(0, span_s).map(lambda s: QUERY_LO + timedelta(seconds=s))
    anywhere_minute = st.integers(0, span_s // 60).map(lambda m: QUERY_LO + timedelta(minutes=m))
    near = st.tuples(st.sampled_from(hot), st.integers(-4 * 86400, 4 * 86400)).map(
        lambda p: p[0] + timedelta(seconds=p[1])
    )
    zones = st.sampled_from([UTC, ZoneInfo("Europe/Sofia"), ZoneInfo("America/New_York")])
    return st.tuples(st.one_of(anywhere, anywhere_minute, near), zones).map(
        lambda p: p[0].astimezone(p[1])
    )


deltas = st.one_of(
    st.integers(1, 3 * 3600),  # up to a few hours
    st.integers(1, 30 * 86400),  # up to a month of business time
    st.integers(1, int(MAX_ADD.total_seconds())),
    st.sampled_from([3600, 9 * 3600, 86400]),
).map(lambda s: timedelta(seconds=s))

COMMON = settings(
    max_examples=80,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


#: One example in four uses a new calendar (building a table costs ~20 ms; the rest reuse one).
FRESH = st.sampled_from([False, False, False, True])


def calendar_for(pair: Pair, fresh: bool) -> BusinessCalendar:
    """A new calendar (the first query sets the table's window) or the shared, warm one."""
    return pair.spec.build() if fresh else pair.shared


@COMMON
@given(data=st.data())
def test_elapsed_matches_the_model(pair: Pair, data: st.DataObject) -> None:
    s = data.draw(instants(pair.hot), label="start")
    e = data.draw(instants(pair.hot), label="end")
    cal = calendar_for(pair, data.draw(FRESH, label="fresh"))
    assert cal.elapsed(s, e) == pair.model.elapsed(s, e)


@COMMON
@given(data=st.data())
def test_add_matches_the_model(pair: Pair, data: st.DataObject) -> None:
    s = data.draw(instants(pair.hot), label="start")
    d = data.draw(deltas, label="delta")
    sign = data.draw(st.sampled_from([1, -1]), label="sign")
    cal = calendar_for(pair, data.draw(FRESH, label="fresh"))
    result = cal.add(s, sign * d)
    expected = pair.model.add(s, sign * d)
    assert result == expected
    assert result.tzinfo is s.tzinfo


@COMMON
@given(data=st.data())
def test_add_and_elapsed_round_trip(pair: Pair, data: st.DataObject) -> None:
    s = data.draw(instants(pair.hot), label="start")
    t = data.draw(instants(pair.hot), label="other")
    cal = calendar_for(pair, data.draw(FRESH, label="fresh"))
    # elapsed then add: from the earlier instant forwards lands on or before the later one,
    # with no business time between; backwards from the later lands on or after the earlier.
    lo, hi = min(s, t), max(s, t)
    span = cal.elapsed(lo, hi)
    forward = cal.add(lo, span)
    assert lo <= forward <= hi
    assert cal.elapsed(forward, hi) == timedelta(0)
    backward = cal.add(hi, -span)
    assert lo <= backward <= hi
    assert cal.elapsed(lo, backward) == timedelta(0)
    # add then elapsed: exactly the amount added, in both directions.
    d = data.draw(deltas, label="delta")
    assert cal.elapsed(s, cal.add(s, d)) == d
    assert cal.elapsed(cal.add(s, -d), s) == d


def test_model_sanity() -> None:
    """The model itself, on a few facts checked by hand (so a broken model cannot hide)."""
    model = Model(CALENDARS[0])
    sofia = ZoneInfo("Europe/Sofia")
    # Fri 27 Mar 2026 17:00 EET -> Mon 30 Mar 10:00 EEST: 2 h; Christmas 2026 closed.
    assert model.elapsed(
        datetime(2026, 3, 27, 17, tzinfo=sofia), datetime(2026, 3, 30, 10, tzinfo=sofia)
    ) == timedelta(hours=2)
    assert model.add(datetime(2026, 12, 23, 17, tzinfo=sofia), timedelta(hours=2)) == datetime(
        2026, 12, 29, 10, tzinfo=sofia
    )
    # The make-up Saturday 13 Jun 2026 is open 10:00-14:00.
    assert model.elapsed(
        datetime(2026, 6, 13, tzinfo=sofia), datetime(2026, 6, 14, tzinfo=sofia)
    ) == timedelta(hours=4)
    allday = Model(CALENDARS[3])
    assert allday.elapsed(
        datetime(2026, 10, 25, tzinfo=sofia), datetime(2026, 10, 26, tzinfo=sofia)
    ) == timedelta(hours=25)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1975, 1, 1), max_value=datetime(2100, 1, 1), allow_imaginary=True
    ),
    zone=st.sampled_from(
        [
            UTC,
            ZoneInfo("Europe/Sofia"),
            ZoneInfo("America/New_York"),
            ZoneInfo("Australia/Lord_Howe"),  # 30-minute DST shifts
            ZoneInfo("Asia/Kolkata"),
            timezone(timedelta(hours=-3, minutes=-30)),
        ]
    ),
    fold=st.sampled_from([0, 1]),
)
def test_fast_epoch_conversion_is_timestamp(moment: datetime, zone: tzinfo, fold: int) -> None:
    """The calendar's own datetime -> epoch conversion equals ``timestamp()`` bit for bit,
    including gaps and repeated hours (fold 0 and 1) and microseconds."""
    value = moment.replace(tzinfo=zone, fold=fold)
    assert _epoch(value) == value.timestamp()
