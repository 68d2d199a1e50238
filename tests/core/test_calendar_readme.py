"""The README's "Business calendars" section exists and says what the code does.

The TOML example is loaded as written, and each semantic rule the section states is checked on
the calendar it defines, so the README cannot drift from the behaviour unnoticed. The simulate
example of "The SLA clock" section is compared with the real command's output.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from slawatch.cli.main import cli
from slawatch.config.loader import build_settings
from slawatch.core.calendar import BusinessCalendar, NaiveDatetimeError, parse_interval

README = Path(__file__).resolve().parents[2] / "README.md"
SOFIA = ZoneInfo("Europe/Sofia")
H = timedelta(hours=1)


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


@pytest.fixture(scope="module")
def sofia() -> BusinessCalendar:
    (toml,) = blocks(section("Business calendars"), "toml")
    settings = build_settings(tomllib.loads(toml), None)
    assert settings.default_calendar == "sofia"
    return settings.calendars["sofia"]


def sf(*args: int) -> datetime:
    return datetime(*args, tzinfo=SOFIA)  # type: ignore[misc]


def test_the_example_is_the_issue_calendar(sofia: BusinessCalendar) -> None:
    assert sofia.business_day == 9 * H
    assert not sofia.is_working_day(date(2026, 12, 31))  # closed
    assert sofia.is_working_day(date(2026, 6, 13))  # a make-up Saturday
    assert not sofia.is_working_day(date(2026, 12, 25))  # BG holiday
    assert sofia.elapsed(sf(2026, 6, 13), sf(2026, 6, 14)) == 9 * H  # open_hours


def test_python_example_names_the_public_api() -> None:
    (code,) = blocks(section("Business calendars"), "python")
    assert "from slawatch import load_config" in code
    assert ".elapsed(start, end)" in code and ".add(start, delta)" in code


def test_stated_semantics(sofia: BusinessCalendar) -> None:
    text = section("Business calendars")
    # "A result that lands exactly on a closing time is that closing instant: Friday 18:00."
    assert "Friday 18:00, not\n  Monday 09:00" in text
    assert sofia.add(sf(2026, 11, 27, 9), 9 * H) == sf(2026, 11, 27, 18)
    # "add(s, timedelta(0)) returns s unchanged, even outside working hours."
    sunday = sf(2026, 11, 29, 3)
    assert sofia.add(sunday, timedelta(0)) is sunday
    # "negative when end < start" and "A negative delta goes back".
    assert sofia.elapsed(sf(2026, 11, 30, 10), sf(2026, 11, 27, 17)) == -2 * H
    assert sofia.add(sf(2026, 11, 30, 10), -2 * H) == sf(2026, 11, 27, 17)
    # "Naive datetimes are rejected with a clear error."
    with pytest.raises(NaiveDatetimeError, match="no time zone"):
        sofia.elapsed(datetime(2026, 11, 30, 10), sf(2026, 11, 30, 11))
    # The spring-gap example: "03:30" on 29 March 2026 is 04:30 EEST.
    assert '`"03:30"` on 29 March 2026 in Sofia is\n  04:30 EEST' in text
    gap = BusinessCalendar("gap", SOFIA, {"sun": [parse_interval("03:30-05:00")]})
    assert gap.next_open(sf(2026, 3, 29, 1)) == sf(2026, 3, 29, 4, 30)
    # "The built-in calendar 24x7 is always open; its business day is 24 hours."
    assert BusinessCalendar.always_open().business_day == 24 * H


def test_simulate_example_matches_the_command() -> None:
    (shell,) = [b for b in blocks(section("The SLA clock"), "sh") if "simulate" in b]
    command, *expected = shell.strip().splitlines()
    args = command.split()[1:]  # drop "slawatch"
    config = Path(__file__).resolve().parents[2] / "config" / "slawatch.toml"
    result = CliRunner().invoke(cli, [*args, "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    shown = [line.removeprefix("# ") for line in expected]
    assert result.stdout.splitlines()[: len(shown)] == shown
