"""Hand-computed business-time cases for :class:`BusinessCalendar`.

Every expected value below was worked out by hand from the calendar rules (the working hours,
the BG public holidays and the DST rules of the zone), and the reasoning is in the comment next
to it. None was copied from the implementation's output.

Facts used throughout:

* Europe/Sofia is EET (UTC+2) in winter and EEST (UTC+3) in summer. In 2026 the clocks go
  forward on Sunday 29 March at 03:00 -> 04:00 (01:00 UTC) and back on Sunday 25 October at
  04:00 -> 03:00 (01:00 UTC), so 03:00-04:00 happens twice that morning.
* America/New_York is EST (UTC-5) / EDT (UTC-4); in 2026 the clocks go forward on Sunday
  8 March at 02:00 -> 03:00 and back on Sunday 1 November at 02:00 -> 01:00.
* Wall times that do not exist or are ambiguous map with fold=0: in a gap, the offset before the
  change is used; in the repeated hour, the first (summer-time) occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from slawatch.config.loader import holiday_checker
from slawatch.core.calendar import (
    WEEKDAYS,
    BusinessCalendar,
    NaiveDatetimeError,
    parse_interval,
)
from slawatch.errors import SlawatchError

SOFIA = ZoneInfo("Europe/Sofia")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def weekly(days: str, *intervals: str) -> dict[str, list]:
    """``weekly("mon-fri", "09:00-18:00")`` or ``weekly("all", ...)``."""
    parsed = [parse_interval(i) for i in intervals]
    names = WEEKDAYS[:5] if days == "mon-fri" else WEEKDAYS
    return {d: list(parsed) for d in names}


def sofia(**kwargs: object) -> BusinessCalendar:
    """The issue's Sofia calendar: Mon-Fri 09:00-18:00 with BG public holidays."""
    return BusinessCalendar(
        "sofia",
        SOFIA,
        weekly("mon-fri", "09:00-18:00"),
        holiday_checker=holiday_checker("BG"),
        **kwargs,  # type: ignore[arg-type]
    )


def sf(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=SOFIA, fold=fold)  # type: ignore[misc]


def ny(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# ----------------------------------------------------------------------------- DST, Sofia
class TestSofiaDst:
    def test_spring_weekend_outside_hours(self) -> None:
        cal = sofia()
        # Fri 27 Mar 17:00 EET -> Mon 30 Mar 10:00 EEST: 1 h on Friday + 1 h on Monday.
        assert cal.elapsed(sf(2026, 3, 27, 17), sf(2026, 3, 30, 10)) == 2 * H
        result = cal.add(sf(2026, 3, 27, 17), 2 * H)
        assert result == sf(2026, 3, 30, 10)
        assert result.utcoffset() == 3 * H  # summer time after the weekend
        # Backwards across the same weekend: Mon 10:00 - 2 h = Fri 17:00 (winter time).
        back = cal.add(sf(2026, 3, 30, 10), -2 * H)
        assert back == sf(2026, 3, 27, 17)
        assert back.utcoffset() == 2 * H

    def test_autumn_weekend_outside_hours(self) -> None:
        cal = sofia()
        # Fri 23 Oct 17:30 EEST -> Mon 26 Oct 09:30 EET: 30 min + 30 min.
        assert cal.elapsed(sf(2026, 10, 23, 17, 30), sf(2026, 10, 26, 9, 30)) == 60 * M
        assert cal.add(sf(2026, 10, 23, 17, 30), 60 * M) == sf(2026, 10, 26, 9, 30)
        assert cal.add(sf(2026, 10, 26, 9, 30), -60 * M) == sf(2026, 10, 23, 17, 30)
        # The whole weekend is closed, including the repeated hour.
        assert cal.elapsed(sf(2026, 10, 24, 0), sf(2026, 10, 26, 9)) == timedelta(0)

    def test_spring_day_inside_hours_is_23_hours(self) -> None:
        cal = BusinessCalendar("sun", SOFIA, {"sun": [parse_interval("00:00-24:00")]})
        # Sun 29 Mar 2026: midnight EET (22:00 UTC Sat) to midnight EEST (21:00 UTC Sun) = 23 h.
        assert cal.elapsed(sf(2026, 3, 29), sf(2026, 3, 30)) == 23 * H
        # 02:00 EET (00:00 UTC) + 2 h real time = 02:00 UTC = 05:00 EEST.
        assert cal.add(sf(2026, 3, 29, 2), 2 * H) == sf(2026, 3, 29, 5)
        # An ordinary Sunday has 24 h.
        assert cal.elapsed(sf(2026, 3, 22), sf(2026, 3, 23)) == 24 * H

    def test_autumn_day_inside_hours_is_25_hours(self) -> None:
        cal = BusinessCalendar("sun", SOFIA, {"sun": [parse_interval("00:00-24:00")]})
        # Sun 25 Oct 2026: midnight EEST (21:00 UTC Sat) to midnight EET (22:00 UTC Sun) = 25 h.
        assert cal.elapsed(sf(2026, 10, 25), sf(2026, 10, 26)) == 25 * H

    def test_autumn_back_hour(self) -> None:
        cal = BusinessCalendar("sun", SOFIA, {"sun": [parse_interval("00:00-24:00")]})
        first = sf(2026, 10, 25, 3, 30)  # fold=0: 03:30 EEST = 00:30 UTC
        second = sf(2026, 10, 25, 3, 30, fold=1)  # 03:30 EET = 01:30 UTC
        assert first.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
        assert second.astimezone(UTC) == utc(2026, 10, 25, 1, 30)
        # Same wall time, one real hour apart: one hour of business time.
        assert cal.elapsed(first, second) == H
        assert cal.elapsed(second, first) == -H
        # 02:30 EEST (23:30 UTC Sat) + 2 h = 01:30 UTC = the second 03:30.
        assert cal.add(sf(2026, 10, 25, 2, 30), 2 * H) == second
        assert cal.add(sf(2026, 10, 25, 2, 30), 2 * H).astimezone(UTC) == utc(2026, 10, 25, 1, 30)

    def test_interval_bounds_in_the_gap_and_the_repeated_hour(self) -> None:
        # "03:30-05:00" on the spring day: 03:30 does not exist; fold=0 reads it with the old
        # offset (+02:00) = 01:30 UTC (= 04:30 EEST); 05:00 EEST = 02:00 UTC -> 30 min.
        cal = BusinessCalendar("x", SOFIA, {"sun": [parse_interval("03:30-05:00")]})
        assert cal.elapsed(sf(2026, 3, 29), sf(2026, 3, 30)) == 30 * M
        assert cal.next_open(sf(2026, 3, 29, 1)) == sf(2026, 3, 29, 4, 30)
        # On the autumn day 03:30 is ambiguous; fold=0 is 03:30 EEST = 00:30 UTC, and
        # 05:00 EET = 03:00 UTC -> 2 h 30 min.
        assert cal.elapsed(sf(2026, 10, 25), sf(2026, 10, 26)) == 150 * M

    def test_night_shift_over_spring_change(self) -> None:
        cal = BusinessCalendar("night", SOFIA, weekly("all", "22:00-06:00"))
        # Sat 28 Mar 22:00 EET (20:00 UTC) -> Sun 29 Mar 06:00 EEST (03:00 UTC) = 7 h.
        assert cal.elapsed(sf(2026, 3, 28, 12), sf(2026, 3, 29, 12)) == 7 * H
        # Sat 23:00 + 5 h: 21:00 UTC + 5 h = 02:00 UTC = 05:00 EEST, still inside the shift.
        assert cal.add(sf(2026, 3, 28, 23), 5 * H) == sf(2026, 3, 29, 5)
        # + 6 h lands on 03:00 UTC = 06:00 EEST: exactly the closing instant.
        assert cal.add(sf(2026, 3, 28, 23), 6 * H) == sf(2026, 3, 29, 6)
        # + 6 h 1 min: the next shift, Sun 22:00 EEST, plus 1 min.
        assert cal.add(sf(2026, 3, 28, 23), 6 * H + M) == sf(2026, 3, 29, 22, 1)

    def test_night_shift_over_autumn_change(self) -> None:
        cal = BusinessCalendar("night", SOFIA, weekly("all", "22:00-06:00"))
        # Sat 24 Oct 22:00 EEST (19:00 UTC) -> Sun 25 Oct 06:00 EET (04:00 UTC) = 9 h.
        assert cal.elapsed(sf(2026, 10, 24, 12), sf(2026, 10, 25, 12)) == 9 * H
        # Sat 22:00 + 9 h = the closing instant Sun 06:00 EET.
        end = cal.add(sf(2026, 10, 24, 22), 9 * H)
        assert end == sf(2026, 10, 25, 6)
        assert end.utcoffset() == 2 * H

    def test_round_the_clock_calendar_across_both_changes(self) -> None:
        cal = BusinessCalendar("allday", SOFIA, weekly("all", "00:00-24:00"))
        # Sat 28 Mar 12:00 EET (10:00 UTC) -> Mon 30 Mar 12:00 EEST (09:00 UTC) = 47 h.
        assert cal.elapsed(sf(2026, 3, 28, 12), sf(2026, 3, 30, 12)) == 47 * H
        # Sat 24 Oct 12:00 EEST (09:00 UTC) -> Mon 26 Oct 12:00 EET (10:00 UTC) = 49 h.
        assert cal.elapsed(sf(2026, 10, 24, 12), sf(2026, 10, 26, 12)) == 49 * H
        # Midnight is not a closing instant on a round-the-clock calendar.
        assert cal.add(sf(2026, 3, 28, 23), H) == sf(2026, 3, 29, 0)
        assert cal.is_open(sf(2026, 3, 29, 0))


# ------------------------------------------------------------------------- DST, New York
class TestNewYorkDst:
    @staticmethod
    def split() -> BusinessCalendar:
        return BusinessCalendar("ny", NEW_YORK, weekly("mon-fri", "09:00-12:00", "13:00-17:00"))

    def test_spring_weekend_split_day(self) -> None:
        cal = self.split()
        # Fri 6 Mar 16:00 EST -> Mon 9 Mar 10:00 EDT: 1 h + 1 h.
        assert cal.elapsed(ny(2026, 3, 6, 16), ny(2026, 3, 9, 10)) == 2 * H
        assert cal.add(ny(2026, 3, 6, 16), 2 * H) == ny(2026, 3, 9, 10)
        assert cal.add(ny(2026, 3, 9, 10), -2 * H) == ny(2026, 3, 6, 16)
        # The lunch hour is closed: Mon 11:30 + 1 h = 13:30.
        assert cal.add(ny(2026, 3, 9, 11, 30), H) == ny(2026, 3, 9, 13, 30)
        # Landing on 12:00 is the closing instant 12:00, not 13:00.
        assert cal.add(ny(2026, 3, 9, 11), H) == ny(2026, 3, 9, 12)

    def test_autumn_weekend_split_day(self) -> None:
        cal = self.split()
        # Fri 30 Oct 16:30 EDT -> Mon 2 Nov 09:30 EST: 30 min + 30 min.
        assert cal.elapsed(ny(2026, 10, 30, 16, 30), ny(2026, 11, 2, 9, 30)) == 60 * M
        result = cal.add(ny(2026, 10, 30, 16, 30), 60 * M)
        assert result == ny(2026, 11, 2, 9, 30)
        assert result.utcoffset() == -5 * H

    def test_sunday_round_the_clock_inside_hours(self) -> None:
        cal = BusinessCalendar("ny-sun", NEW_YORK, {"sun": [parse_interval("00:00-24:00")]})
        assert cal.elapsed(ny(2026, 3, 8), ny(2026, 3, 9)) == 23 * H
        assert cal.elapsed(ny(2026, 11, 1), ny(2026, 11, 2)) == 25 * H
        # Autumn-back hour: 01:30 EDT (05:30 UTC) and 01:30 EST (06:30 UTC).
        assert cal.elapsed(ny(2026, 11, 1, 1, 30), ny(2026, 11, 1, 1, 30, fold=1)) == H
        # Sun 00:30 EDT (04:30 UTC) + 2 h = 06:30 UTC = the second 01:30 (EST).
        assert cal.add(ny(2026, 11, 1, 0, 30), 2 * H) == ny(2026, 11, 1, 1, 30, fold=1)
        # Spring: 01:30 EST (06:30 UTC) + 1 h = 07:30 UTC = 03:30 EDT.
        assert cal.add(ny(2026, 3, 8, 1, 30), H) == ny(2026, 3, 8, 3, 30)

    def test_night_shift_over_autumn_change(self) -> None:
        cal = BusinessCalendar("ny-night", NEW_YORK, weekly("all", "22:00-06:00"))
        # Sat 31 Oct 22:00 EDT (02:00 UTC) -> Sun 1 Nov 06:00 EST (11:00 UTC) = 9 h.
        assert cal.elapsed(ny(2026, 10, 31, 12), ny(2026, 11, 1, 12)) == 9 * H
        # Sat 7 Mar 22:00 EST (03:00 UTC) -> Sun 8 Mar 06:00 EDT (10:00 UTC) = 7 h.
        assert cal.elapsed(ny(2026, 3, 7, 12), ny(2026, 3, 8, 12)) == 7 * H


# --------------------------------------------------------------------------------- holidays
class TestBulgarianHolidays:
    def test_christmas_2026_with_observed_monday(self) -> None:
        cal = sofia()
        # Thu 24, Fri 25, Sat 26 Dec are holidays; 26 Dec falls on Saturday, so Mon 28 Dec is
        # the substitute day. Wed 23 Dec 17:00 + 2 h -> Tue 29 Dec 10:00.
        assert cal.add(sf(2026, 12, 23, 17), 2 * H) == sf(2026, 12, 29, 10)
        assert cal.elapsed(sf(2026, 12, 23, 18), sf(2026, 12, 29, 9)) == timedelta(0)
        for day in (24, 25, 28):
            assert not cal.is_working_day(date(2026, 12, day))

    def test_new_year_2027(self) -> None:
        cal = sofia()
        # Thu 31 Dec 2026 is a working day; Fri 1 Jan 2027 is New Year.
        # Thu 17:00 + 2 h -> Mon 4 Jan 10:00.
        assert cal.add(sf(2026, 12, 31, 17), 2 * H) == sf(2027, 1, 4, 10)

    def test_extra_closed_date(self) -> None:
        cal = sofia(closed_dates=[date(2026, 12, 31)])
        # Closing 31 Dec too: Wed 30 Dec 17:00 + 2 h -> Mon 4 Jan 2027 10:00.
        assert cal.add(sf(2026, 12, 30, 17), 2 * H) == sf(2027, 1, 4, 10)
        # Dec 2026 working days between Tue 29 09:00 and Mon 4 Jan 09:00: Tue 29 and Wed 30.
        assert cal.elapsed(sf(2026, 12, 29, 9), sf(2027, 1, 4, 9)) == 18 * H

    def test_new_year_2026_and_the_bridge_day(self) -> None:
        cal = sofia()
        # Thu 1 Jan 2026 is New Year; the government declared Wed 31 Dec 2025 and Fri 2 Jan
        # 2026 non-working days (both are in the holidays package's BG table).
        # Tue 30 Dec 2025 17:00 + 2 h -> Mon 5 Jan 2026 10:00.
        assert cal.add(sf(2025, 12, 30, 17), 2 * H) == sf(2026, 1, 5, 10)
        assert not cal.is_working_day(date(2025, 12, 31))
        assert not cal.is_working_day(date(2026, 1, 2))

    def test_christmas_2027_two_substitute_days(self) -> None:
        cal = sofia()
        # 24 Dec 2027 is Friday; 25 and 26 fall on the weekend, so Mon 27 and Tue 28 are
        # substitute days. Thu 23 Dec 17:00 + 2 h -> Wed 29 Dec 10:00.
        assert cal.add(sf(2027, 12, 23, 17), 2 * H) == sf(2027, 12, 29, 10)

    def test_new_year_2028_observed_monday(self) -> None:
        cal = sofia()
        # Sat 1 Jan 2028 -> substitute day Mon 3 Jan. Fri 31 Dec 2027 17:00 + 2 h -> Tue 4 Jan.
        assert cal.add(sf(2027, 12, 31, 17), 2 * H) == sf(2028, 1, 4, 10)
        assert cal.add(sf(2028, 1, 4, 10), -2 * H) == sf(2027, 12, 31, 17)

    def test_orthodox_easter_2026(self) -> None:
        cal = sofia()
        # Orthodox Easter 2026 is Sunday 12 April: Good Friday 10, Holy Saturday 11, Easter
        # Monday 13 April are holidays. Thu 9 Apr 17:00 + 2 h -> Tue 14 Apr 10:00.
        assert cal.add(sf(2026, 4, 9, 17), 2 * H) == sf(2026, 4, 14, 10)
        assert cal.elapsed(sf(2026, 4, 9, 9), sf(2026, 4, 15, 9)) == 18 * H  # Thu + Tue

    def test_orthodox_easter_2027(self) -> None:
        cal = sofia()
        # Julian Easter by Meeus for 2027: a=3, b=4, c=13, d=(19*13+15)%30=22,
        # e=(2*3+4*4-22+34)%7=6, d+e+114=142 -> 19 April (Julian) = 2 May 2027 (Gregorian,
        # +13 days). Good Friday 30 Apr, Holy Saturday 1 May (also Labour Day, so Labour Day is
        # observed on Tue 4 May), Easter Monday 3 May; Thu 6 May is St George's Day.
        # Thu 29 Apr 17:00 + 2 h -> Wed 5 May 10:00.
        assert cal.add(sf(2027, 4, 29, 17), 2 * H) == sf(2027, 5, 5, 10)
        # Thu 29 Apr 09:00 -> Mon 10 May 09:00: Thu 29, Wed 5, Fri 7 = 3 days = 27 h.
        assert cal.elapsed(sf(2027, 4, 29, 9), sf(2027, 5, 10, 9)) == 27 * H

    def test_holiday_closes_the_night_shift_starting_that_date(self) -> None:
        cal = BusinessCalendar(
            "night", SOFIA, weekly("all", "22:00-06:00"), holiday_checker=holiday_checker("BG")
        )
        # The shift starting Wed 23 Dec 22:00 belongs to the 23rd (a working day) and runs to
        # Thu 24 Dec 06:00; the shifts starting on 24, 25, 26 Dec (holidays) are closed; the
        # shift starting Sun 27 Dec 22:00 runs. 23 Dec 12:00 -> 28 Dec 12:00: 8 h + 8 h.
        assert cal.elapsed(sf(2026, 12, 23, 12), sf(2026, 12, 28, 12)) == 16 * H
        assert cal.is_open(sf(2026, 12, 24, 5))
        assert not cal.is_open(sf(2026, 12, 24, 23))


# ------------------------------------------------------------------------------------ edges
class TestEdges:
    def test_friday_one_minute_before_close(self) -> None:
        cal = sofia()
        start = sf(2026, 11, 27, 17, 59)  # a Friday
        assert cal.add(start, M) == sf(2026, 11, 27, 18)  # the closing instant
        assert cal.add(start, 2 * M) == sf(2026, 11, 30, 9, 1)  # Monday 09:01
        assert cal.elapsed(start, sf(2026, 11, 30, 9, 1)) == 2 * M
        assert cal.elapsed(start, sf(2026, 11, 28, 12)) == M

    def test_saturday_start(self) -> None:
        cal = sofia()
        sat = sf(2026, 11, 28, 10)
        assert cal.add(sat, H) == sf(2026, 11, 30, 10)
        assert cal.elapsed(sat, sf(2026, 11, 28, 15)) == timedelta(0)
        assert cal.elapsed(sat, sf(2026, 11, 30, 9, 30)) == 30 * M
        # Backwards from Saturday: 1 h before Saturday is Friday 17:00.
        assert cal.add(sat, -H) == sf(2026, 11, 27, 17)

    def test_start_exactly_at_open(self) -> None:
        cal = sofia()
        mon = sf(2026, 11, 30, 9)
        assert cal.add(mon, 9 * H) == sf(2026, 11, 30, 18)
        assert cal.add(mon, 9 * H + M) == sf(2026, 12, 1, 9, 1)
        assert cal.elapsed(mon, sf(2026, 11, 30, 9, 1)) == M
        # Going back from an opening instant: Friday 17:59.
        assert cal.add(mon, -M) == sf(2026, 11, 27, 17, 59)
        assert cal.is_open(mon)

    def test_start_exactly_at_close(self) -> None:
        cal = sofia()
        close = sf(2026, 11, 30, 18)
        assert cal.add(close, M) == sf(2026, 12, 1, 9, 1)
        assert cal.elapsed(close, sf(2026, 12, 1, 9)) == timedelta(0)
        assert cal.add(close, -M) == sf(2026, 11, 30, 17, 59)
        assert not cal.is_open(close)
        assert cal.next_open(close) == sf(2026, 12, 1, 9)

    def test_negative_add_returns_the_latest_instant(self) -> None:
        cal = sofia()
        # elapsed(t, Tue 10:00) == 1 h for every t in [Mon 18:00, Tue 09:00]; the latest is
        # Tue 09:00.
        assert cal.add(sf(2026, 12, 1, 10), -H) == sf(2026, 12, 1, 9)

    def test_add_zero_is_identity_even_outside_hours(self) -> None:
        cal = sofia()
        sunday_night = sf(2026, 11, 29, 3)
        assert cal.add(sunday_night, timedelta(0)) is sunday_night
        utc_instant = utc(2026, 11, 29, 1)
        assert cal.add(utc_instant, timedelta(0)) is utc_instant

    def test_result_keeps_the_start_zone(self) -> None:
        cal = sofia()
        # Fri 27 Nov 15:00 UTC = 17:00 EET; + 2 h -> Mon 30 Nov 10:00 EET = 08:00 UTC.
        result = cal.add(utc(2026, 11, 27, 15), 2 * H)
        assert result == utc(2026, 11, 30, 8)
        assert result.tzinfo is UTC

    def test_landing_on_closing_time_is_the_closing_instant(self) -> None:
        cal = sofia()
        # Fri 27 Nov 09:00 + 9 h = Fri 18:00, not Mon 09:00.
        assert cal.add(sf(2026, 11, 27, 9), 9 * H) == sf(2026, 11, 27, 18)
        # A full business week from Monday 09:00 ends at Friday 18:00.
        assert cal.add(sf(2026, 11, 23, 9), 45 * H) == sf(2026, 11, 27, 18)

    def test_leap_day_2028(self) -> None:
        cal = sofia()
        assert date(2028, 2, 29).weekday() == 1  # a Tuesday, a working day
        # Mon 28 Feb 17:00 + 2 h -> Tue 29 Feb 10:00.
        assert cal.add(sf(2028, 2, 28, 17), 2 * H) == sf(2028, 2, 29, 10)
        # Mon 28 Feb 09:00 -> Wed 1 Mar 09:00: two full days.
        assert cal.elapsed(sf(2028, 2, 28, 9), sf(2028, 3, 1, 9)) == 18 * H
        always = BusinessCalendar.always_open()
        assert always.elapsed(utc(2028, 2, 28), utc(2028, 3, 1)) == 48 * H
        assert always.add(utc(2028, 2, 28, 12), 24 * H) == utc(2028, 2, 29, 12)

    def test_naive_datetimes_are_rejected(self) -> None:
        cal = sofia()
        naive = datetime(2026, 11, 30, 10)
        aware = sf(2026, 11, 30, 10)
        with pytest.raises(NaiveDatetimeError, match="no time zone"):
            cal.elapsed(naive, aware)
        with pytest.raises(NaiveDatetimeError, match="no time zone"):
            cal.elapsed(aware, naive)
        with pytest.raises(NaiveDatetimeError, match="no time zone"):
            cal.add(naive, H)
        with pytest.raises(NaiveDatetimeError, match="no time zone"):
            cal.add(naive, timedelta(0))
        with pytest.raises(NaiveDatetimeError):
            cal.is_open(naive)
        # Bad input for the CLI and API (SlawatchError) and a ValueError for Python callers.
        assert issubclass(NaiveDatetimeError, SlawatchError)
        assert issubclass(NaiveDatetimeError, ValueError)

    def test_elapsed_is_antisymmetric(self) -> None:
        cal = sofia()
        assert cal.elapsed(sf(2026, 11, 30, 10), sf(2026, 11, 27, 17)) == -2 * H


# -------------------------------------------------------------------- multi-year, lazy table
class TestMultiYear:
    def test_five_years_of_weeks(self) -> None:
        cal = BusinessCalendar("plain", SOFIA, weekly("mon-fri", "09:00-18:00"))
        start = sf(2026, 1, 5, 9)  # a Monday
        end_day = date(2026, 1, 5) + timedelta(weeks=260)
        assert end_day == date(2030, 12, 30) and end_day.weekday() == 0
        # 260 weeks of 5 days x 9 h (DST changes happen at night, outside the hours).
        assert cal.elapsed(start, sf(2030, 12, 30, 9)) == 260 * 45 * H
        assert cal.add(start, 260 * 45 * H) == sf(2030, 12, 27, 18)  # the Friday before, close
        assert cal.add(sf(2030, 12, 30, 9), -260 * 45 * H) == start

    def test_crossing_the_table_after_the_first_window(self) -> None:
        cal = BusinessCalendar("plain", SOFIA, weekly("mon-fri", "09:00-18:00"))
        # A first, small query in 2026 builds the table for a few years around it.
        assert cal.elapsed(sf(2026, 6, 1, 9), sf(2026, 6, 1, 10)) == H
        # 2040-01-02 is a Monday; 2040-01-02 + 52 weeks = 2040-12-31 (52 x 45 h).
        assert date(2040, 1, 2).weekday() == 0
        assert cal.elapsed(sf(2040, 1, 2, 9), sf(2040, 12, 31, 9)) == 52 * 45 * H
        assert cal.add(sf(2040, 1, 2, 9), 52 * 45 * H + M) == sf(2040, 12, 31, 9, 1)
        # ... and before it: 2010-01-04 is a Monday.
        assert date(2010, 1, 4).weekday() == 0
        assert cal.elapsed(sf(2010, 1, 4, 9), sf(2010, 1, 11, 9)) == 45 * H
        assert cal.add(sf(2010, 1, 11, 9), -45 * H) == sf(2010, 1, 4, 9)

    def test_answers_do_not_depend_on_what_was_asked_before(self) -> None:
        def night() -> BusinessCalendar:
            return BusinessCalendar("night", SOFIA, weekly("all", "22:00-06:00"))

        warm = night()
        warm.elapsed(sf(2026, 5, 5), sf(2026, 5, 6))  # table starts at 2025-01-01 00:00
        # The shift of 31 Dec 2024 22:00 runs to 1 Jan 2025 06:00: 6 h of it lie after the
        # table's first instant. A fresh calendar and a warmed one must agree.
        for cal in (warm, night()):
            assert cal.elapsed(sf(2025, 1, 1, 0), sf(2025, 1, 1, 6)) == 6 * H
            assert cal.add(sf(2025, 1, 1, 0), 6 * H) == sf(2025, 1, 1, 6)
            assert cal.is_open(sf(2025, 1, 1, 3))
        # Spanning the old lower edge backwards: Dec 30 22:00 -> Jan 1 06:00 = 16 h.
        assert warm.elapsed(sf(2024, 12, 30, 12), sf(2025, 1, 1, 12)) == 16 * H

    def test_backwards_extension_with_negative_add(self) -> None:
        cal = BusinessCalendar("plain", SOFIA, weekly("mon-fri", "09:00-18:00"))
        cal.elapsed(sf(2026, 6, 1, 9), sf(2026, 6, 1, 10))
        # 2026-06-01 09:00 minus 1040 weeks x 45 h. 20 years back is 7305 days (5 leap days)
        # = 2006-06-01, so 7280 days back is 25 days later: 2006-06-26, a Monday. The latest
        # instant with that much business time before the start is that day's opening, 09:00.
        assert date(2026, 6, 1) - timedelta(weeks=1040) == date(2006, 6, 26)
        assert cal.add(sf(2026, 6, 1, 9), -1040 * 45 * H) == sf(2006, 6, 26, 9)

    def test_years_outside_the_supported_range(self) -> None:
        cal = sofia()
        with pytest.raises(ValueError, match="supported years"):
            cal.elapsed(sf(1960, 1, 1), sf(2026, 1, 1))


# ----------------------------------------------------------- overnight shifts, extra dates
class TestShiftsAndExtraDates:
    def test_overnight_shift_belongs_to_its_start_date(self) -> None:
        # Mon-Fri night shift; the Friday shift runs into Saturday morning, and there is no
        # Sunday-evening shift.
        cal = BusinessCalendar("night", SOFIA, weekly("mon-fri", "22:00-06:00"))
        assert cal.is_open(sf(2026, 11, 28, 5))  # Saturday 05:00, Friday's shift
        assert not cal.is_open(sf(2026, 11, 29, 23))  # Sunday 23:00
        assert not cal.is_open(sf(2026, 11, 30, 3))  # Monday 03:00: nobody started Sunday
        # Fri 27 Nov 23:00 + 8 h: 7 h to Sat 06:00, then Mon 22:00 + 1 h = Mon 23:00.
        assert cal.add(sf(2026, 11, 27, 23), 8 * H) == sf(2026, 11, 30, 23)

    def test_extra_open_date_uses_open_hours(self) -> None:
        cal = sofia(open_dates=[date(2026, 6, 13)], open_hours=[parse_interval("10:00-14:00")])
        # Sat 13 Jun 2026 is a make-up working day, 10:00-14:00.
        assert cal.is_working_day(date(2026, 6, 13))
        # Fri 12 Jun 17:00 + 2 h -> 1 h Friday + 1 h Saturday -> Sat 11:00.
        assert cal.add(sf(2026, 6, 12, 17), 2 * H) == sf(2026, 6, 13, 11)
        # Fri 12 Jun 17:00 + 6 h -> 1 h + 4 h Saturday (closing 14:00) + 1 h Monday -> 10:00.
        assert cal.add(sf(2026, 6, 12, 17), 6 * H) == sf(2026, 6, 15, 10)
        assert cal.elapsed(sf(2026, 6, 13), sf(2026, 6, 14)) == 4 * H

    def test_open_hours_default_to_the_most_common_day(self) -> None:
        cal = sofia(open_dates=[date(2026, 6, 13)])
        assert cal.elapsed(sf(2026, 6, 13), sf(2026, 6, 14)) == 9 * H

    def test_extra_open_date_overrides_a_holiday(self) -> None:
        cal = sofia(open_dates=[date(2026, 12, 28)])  # the observed Christmas Monday
        assert cal.elapsed(sf(2026, 12, 28), sf(2026, 12, 29)) == 9 * H

    def test_extra_closed_date(self) -> None:
        cal = sofia(closed_dates=[date(2026, 12, 1)])
        # Mon 30 Nov 17:00 + 2 h: 1 h Monday, Tue 1 Dec closed, 1 h Wednesday.
        assert cal.add(sf(2026, 11, 30, 17), 2 * H) == sf(2026, 12, 2, 10)

    def test_dates_both_open_and_closed_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="both open and closed"):
            sofia(open_dates=[date(2026, 6, 13)], closed_dates=[date(2026, 6, 13)])


class TestBusinessDay:
    def test_default_is_the_most_common_working_day(self) -> None:
        cal = BusinessCalendar(
            "mixed",
            SOFIA,
            {
                **weekly("mon-fri", "09:00-18:00"),
                "fri": [parse_interval("09:00-15:00")],
            },
        )
        assert cal.business_day == 9 * H  # four 9 h days beat one 6 h day
        split = BusinessCalendar("ny", NEW_YORK, weekly("mon-fri", "09:00-12:00", "13:00-17:00"))
        assert split.business_day == 7 * H
        assert BusinessCalendar.always_open().business_day == 24 * H

    def test_explicit_business_day(self) -> None:
        cal = sofia(business_day=8 * H)
        assert cal.business_day == 8 * H


class TestParseInterval:
    @pytest.mark.parametrize(
        ("text", "start", "end"),
        [
            ("09:00-18:00", 540, 1080),
            ("00:00-24:00", 0, 1440),
            ("22:00-06:00", 1320, 1800),
            ("13:30-18:00", 810, 1080),
        ],
    )
    def test_valid(self, text: str, start: int, end: int) -> None:
        interval = parse_interval(text)
        assert (interval.start_min, interval.end_min) == (start, end)

    @pytest.mark.parametrize(
        "text", ["9-18", "09:00", "09:00-18:00-19:00", "25:00-26:00", "09:60-10:00", "09:00-09:00"]
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_interval(text)
