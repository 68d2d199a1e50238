"""Duration syntax: what the config, the CLI and the API accept, and what they refuse."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slawatch.core.durations import (
    Duration,
    format_duration,
    humanize,
    parse_duration,
    parse_signed_duration,
    parse_wall_duration,
)

H = timedelta(hours=1)
NINE_HOURS = 9 * H


@pytest.mark.parametrize(
    ("text", "days", "seconds"),
    [
        ("30d", 30, 0),
        ("4h", 0, 4 * 3600),
        ("15m", 0, 900),
        ("90s", 0, 90),
        ("1h30m", 0, 5400),
        ("1d4h", 1, 4 * 3600),
        ("0.5d", 0.5, 0),
        ("  4H ", 0, 4 * 3600),
        ("0s", 0, 0),
    ],
)
def test_parse(text: str, days: float, seconds: float) -> None:
    duration = parse_duration(text)
    assert (duration.days, duration.seconds, duration.immediate) == (days, seconds, False)


def test_immediate() -> None:
    duration = parse_duration("immediate")
    assert duration.immediate
    with pytest.raises(ValueError, match="immediate"):
        duration.resolve(NINE_HOURS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-2h", "must not be negative"),
        ("", "empty duration"),
        ("4x", "cannot parse"),
        ("4 h", "cannot parse"),
        ("h", "cannot parse"),
        ("2h4", "cannot parse"),
        ("1.2.3d", "cannot parse"),
        ("4h4h", "repeats the unit"),
        ("soon", "cannot parse"),
    ],
)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="expected a duration string"):
        parse_duration(4)  # type: ignore[arg-type]


def test_business_days_resolve_with_the_calendar_day() -> None:
    # 30 business days of 9 h = 270 h; 1d4h on a 9 h day = 13 h; days on a 24 h clock are days.
    assert parse_duration("30d").resolve(NINE_HOURS) == 270 * H
    assert parse_duration("1d4h").resolve(NINE_HOURS) == 13 * H
    assert parse_duration("0.5d").resolve(NINE_HOURS) == timedelta(hours=4, minutes=30)
    assert parse_duration("2d").resolve(24 * H) == timedelta(days=2)
    assert parse_duration("90s").resolve(NINE_HOURS) == timedelta(seconds=90)


def test_signed() -> None:
    assert parse_signed_duration("-2h") == (-1, parse_duration("2h"))
    assert parse_signed_duration("+0m")[0] == 1
    with pytest.raises(ValueError, match="needs a sign"):
        parse_signed_duration("2h")
    with pytest.raises(ValueError, match="immediate"):
        parse_signed_duration("-immediate")
    with pytest.raises(ValueError, match="needs a sign"):
        parse_signed_duration("")


def test_wall() -> None:
    assert parse_wall_duration("15m") == timedelta(minutes=15)
    assert parse_wall_duration("1h30m") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="hours, minutes or seconds"):
        parse_wall_duration("1d")
    with pytest.raises(ValueError, match="hours, minutes or seconds"):
        parse_wall_duration("immediate")


def test_format() -> None:
    assert format_duration(parse_duration("1d4h")) == "1d4h"
    assert format_duration(Duration(days=30)) == "30d"
    assert format_duration(parse_duration("immediate")) == "immediate"
    assert format_duration(timedelta(hours=4, minutes=30)) == "4h30m"
    assert format_duration(timedelta(0)) == "0s"
    assert format_duration(-H) == "-1h"
    assert format_duration(timedelta(days=2, seconds=5)) == "48h5s"
    assert str(parse_duration("1h30m")) == "1h30m"


def test_humanize() -> None:
    assert humanize(NINE_HOURS, NINE_HOURS) == "1 business day"
    assert humanize(20 * H, NINE_HOURS) == "2 business days 2 hours"
    assert humanize(timedelta(minutes=45)) == "45 minutes"
    assert humanize(timedelta(hours=1, minutes=1, seconds=1)) == "1 hour 1 minute"
    assert humanize(timedelta(0)) == "0 seconds"
    assert humanize(-2 * H) == "2 hours"
