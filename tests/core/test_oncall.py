"""The on-call rotation: anchored weekly handoffs on the local wall clock, DST, overrides."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from slawatch.core.oncall import ANCHOR_DATE, OnCall, oncall_at, parse_handoff, shifts
from slawatch.core.policy import Override, Rotation

SOFIA = Rotation(people=("ivan", "maria", "petar"), handoff="mon 09:00", timezone="Europe/Sofia")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_parse_handoff() -> None:
    assert parse_handoff("mon 09:00") == (0, datetime(2000, 1, 1, 9, 0).time())
    assert parse_handoff("Fri 17:30")[0] == 4
    with pytest.raises(ValueError):
        parse_handoff("monday 9am")


def test_anchor_week_starts_with_the_first_person() -> None:
    assert date(2024, 1, 1) == ANCHOR_DATE
    # 2024-01-01 09:00 Sofia is 07:00 UTC: shift 0 (ivan); just before it, shift -1 (petar)
    assert oncall_at(SOFIA, utc(2024, 1, 1, 7, 0)) == OnCall("ivan", "maria")
    assert oncall_at(SOFIA, utc(2024, 1, 1, 6, 59)) == OnCall("petar", "ivan")
    assert oncall_at(SOFIA, utc(2024, 1, 8, 7, 0)) == OnCall("maria", "petar")
    assert oncall_at(SOFIA, utc(2024, 1, 15, 7, 0)) == OnCall("petar", "ivan")


def test_the_answer_does_not_depend_on_the_zone_of_the_question() -> None:
    instant = utc(2026, 11, 25, 12, 0)
    from zoneinfo import ZoneInfo

    assert oncall_at(SOFIA, instant) == oncall_at(
        SOFIA, instant.astimezone(ZoneInfo("America/New_York"))
    )


def test_handoff_stays_at_local_0900_across_the_spring_dst_change() -> None:
    # Sofia moves to summer time on Sunday 2026-03-29: Monday 09:00 is 06:00 UTC, not 07:00.
    # Week 117 since the anchor starts on Monday 2026-03-30 (117 % 3 == 0: ivan).
    assert oncall_at(SOFIA, utc(2026, 3, 30, 5, 59)).primary == "petar"
    assert oncall_at(SOFIA, utc(2026, 3, 30, 6, 0)).primary == "ivan"
    # the week before started at 07:00 UTC (winter time)
    assert oncall_at(SOFIA, utc(2026, 3, 23, 6, 59)).primary == "maria"
    assert oncall_at(SOFIA, utc(2026, 3, 23, 7, 0)).primary == "petar"


def test_handoff_across_the_autumn_dst_change_in_new_york() -> None:
    ny = Rotation(people=("a", "b"), handoff="sun 01:30", timezone="America/New_York")
    # 2026-11-01 01:30 happens twice in New York; fold=0 is the first (EDT, 05:30 UTC)
    before = oncall_at(ny, utc(2026, 11, 1, 5, 29)).primary
    after = oncall_at(ny, utc(2026, 11, 1, 5, 30)).primary
    assert before != after
    assert oncall_at(ny, utc(2026, 11, 1, 6, 45)).primary == after  # the repeated hour


def test_override_replaces_the_primary_for_whole_local_days() -> None:
    rotation = Rotation(
        people=("ivan", "maria", "petar"),
        timezone="Europe/Sofia",
        overrides=(Override(date(2026, 12, 24), date(2026, 12, 27), "zoe"),),
    )
    regular = oncall_at(rotation, utc(2026, 12, 23, 21, 59))  # 23:59 Sofia on the 23rd
    assert not regular.override
    start = oncall_at(rotation, utc(2026, 12, 23, 22, 0))  # 00:00 Sofia on the 24th
    assert start == OnCall("zoe", regular.primary, override=True)
    assert oncall_at(rotation, utc(2026, 12, 27, 21, 59)).primary == "zoe"
    assert oncall_at(rotation, utc(2026, 12, 27, 22, 0)).override is False


def test_override_by_the_regular_primary_keeps_the_secondary() -> None:
    at = utc(2024, 1, 2, 12, 0)  # shift 0: ivan / maria
    rotation = Rotation(
        people=("ivan", "maria"),
        timezone="Europe/Sofia",
        overrides=(Override(date(2024, 1, 2), date(2024, 1, 2), "ivan"),),
    )
    assert oncall_at(rotation, at) == OnCall("ivan", "maria", override=True)


def test_one_person_or_nobody() -> None:
    assert oncall_at(Rotation(people=("solo",)), utc(2026, 1, 1)) == OnCall("solo", None)
    assert oncall_at(Rotation(), utc(2026, 1, 1)) == OnCall(None, None)


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError):
        oncall_at(SOFIA, datetime(2026, 1, 1))


def test_shifts_split_at_handoffs_and_overrides() -> None:
    rotation = Rotation(
        people=("ivan", "maria"),
        timezone="Europe/Sofia",
        overrides=(Override(date(2026, 12, 24), date(2026, 12, 27), "zoe"),),
    )
    start = utc(2026, 12, 16, 12, 0)  # a Wednesday
    result = shifts(rotation, start, start + timedelta(weeks=3))
    spans = [(s.start.isoformat(), s.primary, s.secondary, s.override) for s in result]
    assert spans == [
        ("2026-12-16T12:00:00+00:00", "ivan", "maria", False),
        ("2026-12-21T07:00:00+00:00", "maria", "ivan", False),  # Monday 09:00 Sofia
        ("2026-12-23T22:00:00+00:00", "zoe", "maria", True),  # 24th 00:00 Sofia
        ("2026-12-27T22:00:00+00:00", "maria", "ivan", False),
        ("2026-12-28T07:00:00+00:00", "ivan", "maria", False),
        ("2027-01-04T07:00:00+00:00", "maria", "ivan", False),
    ]
    assert result[-1].end == start + timedelta(weeks=3)
    for left, right in itertools.pairwise(result):
        assert left.end == right.start
