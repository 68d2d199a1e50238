"""Loading ``slawatch.toml``: the search order, the defaults, and the built objects."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from slawatch import load_config as public_load_config
from slawatch.config.loader import ALWAYS_OPEN, find_config, load_config
from slawatch.core.durations import parse_duration
from slawatch.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "slawatch.toml"
SOFIA = ZoneInfo("Europe/Sofia")
H = timedelta(hours=1)

ISSUE_CALENDAR = """
default_calendar = "sofia"

[calendars.sofia]
timezone = "Europe/Sofia"
hours = { mon = "09:00-18:00", tue = "09:00-18:00", wed = "09:00-18:00", thu = "09:00-18:00", fri = "09:00-18:00" }
holidays = { country = "BG" }
closed = ["2026-12-31"]
open = ["2026-06-13"]
open_hours = "09:00-18:00"
business_day = "9h"
"""  # noqa: E501  (the issue's example, verbatim)


def write(tmp_path: Path, text: str, name: str = "slawatch.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestSearchOrder:
    def test_explicit_path_wins(self, tmp_path: Path) -> None:
        env = {"SLAWATCH_CONFIG": str(tmp_path / "env.toml")}
        assert find_config(tmp_path / "x.toml", env) == tmp_path / "x.toml"

    def test_environment_variable_next(self, tmp_path: Path) -> None:
        env = {"SLAWATCH_CONFIG": str(tmp_path / "env.toml")}
        assert find_config(None, env) == tmp_path / "env.toml"

    def test_local_default_then_embedded(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        if Path("/etc/slawatch/slawatch.toml").exists():  # pragma: no cover - a real install
            pytest.skip("/etc/slawatch/slawatch.toml exists on this machine")
        assert find_config(None, {}) is None
        settings = load_config(None, {})
        assert settings.path is None
        assert settings.default_calendar == ALWAYS_OPEN
        (tmp_path / "config").mkdir()
        write(tmp_path / "config", ISSUE_CALENDAR)
        assert find_config(None, {}) == Path("config/slawatch.toml")
        assert load_config(None, {}).default_calendar == "sofia"

    def test_named_file_must_exist(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.toml"
        with pytest.raises(ConfigError) as info:
            load_config(missing)
        assert info.value.problems == [f"{missing}: file not found"]
        with pytest.raises(ConfigError, match="file not found"):
            load_config(None, {"SLAWATCH_CONFIG": str(missing)})


class TestValidFiles:
    def test_the_example_config_loads(self) -> None:
        settings = load_config(EXAMPLE, {})
        assert settings.default_calendar == "sofia"
        assert {"sofia", ALWAYS_OPEN} <= set(settings.calendars)

    def test_empty_file(self, tmp_path: Path) -> None:
        settings = load_config(write(tmp_path, ""))
        assert set(settings.calendars) == {ALWAYS_OPEN}
        assert set(settings.plans) == {"standard", "business", "enterprise", "premium"}

    def test_only_one_calendar_table(self, tmp_path: Path) -> None:
        text = '[calendars.office]\ntimezone = "UTC"\nhours = { mon = "09:00-17:00" }\n'
        settings = load_config(write(tmp_path, text))
        assert settings.default_calendar == "office"
        assert settings.calendar(None).name == "office"

    def test_the_issue_calendar_through_the_public_api(self, tmp_path: Path) -> None:
        cal = public_load_config(write(tmp_path, ISSUE_CALENDAR)).calendars["sofia"]
        assert cal.business_day == 9 * H
        # Wed 30 Dec 2026 17:00 + 2 h: 31 Dec is closed by the file and 1 Jan is a holiday,
        # so Mon 4 Jan 2027 10:00.
        start = datetime(2026, 12, 30, 17, tzinfo=SOFIA)
        assert cal.add(start, 2 * H) == datetime(2027, 1, 4, 10, tzinfo=SOFIA)
        assert cal.elapsed(start, datetime(2027, 1, 4, 10, tzinfo=SOFIA)) == 2 * H
        # The make-up Saturday is open 09:00-18:00.
        assert cal.is_working_day(date(2026, 6, 13))

    def test_calendar_shapes(self, tmp_path: Path) -> None:
        text = """
default_calendar = "shifts"
[calendars.shifts]
timezone = "Europe/Sofia"
hours = { mon = ["09:00-12:30", "13:30-18:00"], sat = "22:00-06:00", sun = "00:00-24:00" }
"""
        cal = load_config(write(tmp_path, text)).calendars["shifts"]
        # Mon 23 Nov 2026: 3 h 30 min + 4 h 30 min.
        monday = datetime(2026, 11, 23, tzinfo=SOFIA)
        assert cal.elapsed(monday, monday + timedelta(days=1)) == 8 * H
        # Sat 21 Nov 22:00 -> Mon 23 Nov 00:00: Saturday's shift (22:00-06:00) overlaps Sunday's
        # round-the-clock day, so the union is 22:00 Sat -> 24:00 Sun = 26 h.
        saturday = datetime(2026, 11, 21, 12, tzinfo=SOFIA)
        assert cal.elapsed(saturday, monday) == 26 * H
        # Business day defaults to the most common length: each of the three days differs
        # (8 h, 8 h, 24 h), so the two 8 h days win.
        assert cal.business_day == 8 * H

    def test_plan_overrides_and_premium_account(self, tmp_path: Path) -> None:
        text = """
[plans.enterprise.targets.high]
workaround = "4h"
[plans.business.targets.low]
response = "-"
[accounts.globex]
name = "Globex"
plan = "premium"
[accounts.globex.sla.medium]
response = "4h"
"""
        settings = load_config(write(tmp_path, text))
        assert settings.plans["enterprise"].target("high", "workaround") == parse_duration("4h")
        assert settings.plans["enterprise"].target("high", "resolution") == parse_duration("30d")
        assert settings.plans["business"].target("low", "response") is None
        globex = settings.account_plans["globex"]
        assert globex.target("medium", "response") == parse_duration("4h")
        # Premium starts from Enterprise's table.
        assert globex.target("medium", "workaround") == parse_duration("3d")
        assert settings.plans["premium"].target("medium", "response") == parse_duration("1d")

    def test_settings_are_frozen(self, tmp_path: Path) -> None:
        settings = load_config(write(tmp_path, ISSUE_CALENDAR))
        with pytest.raises((TypeError, ValueError, AttributeError)):
            settings.file.calendars["sofia"].timezone = "UTC"  # type: ignore[misc]
        with pytest.raises(TypeError):
            settings.calendars["x"] = settings.calendars["sofia"]  # type: ignore[index]
