"""Every bad input the issue names is an error naming the file, the key path and the reason.

Each case writes a small file, loads it, and checks the one problem line exactly enough that a
user could act on it: ``FILE: key.path: reason``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from slawatch.config.loader import load_config
from slawatch.config.secrets import Secret, resolve_embedded, resolve_secret
from slawatch.errors import ConfigError, SecretError

CAL = '[calendars.c]\ntimezone = "Europe/Sofia"\nhours = { mon = "09:00-18:00" }\n'


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "slawatch.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    lines = info.value.problems
    assert lines, "a ConfigError must carry at least one problem"
    for line in lines:
        assert line.startswith(f"{path}: "), line  # every message names the file
    return [line.removeprefix(f"{path}: ") for line in lines]


def one(tmp_path: Path, text: str) -> str:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


class TestUnknownKeysAndTypes:
    @pytest.mark.parametrize(
        ("text", "key"),
        [
            ('colour = "blue"\n', "colour"),
            (CAL + "hourz = 1\n", "calendars.c.hourz"),
            (CAL + 'holidays = { country = "BG", region = "x" }\n', "calendars.c.holidays.region"),
            ('[plans.enterprise.targets.high]\nrespons = "1d"\n', "plans.enterprise.targets.high"),
            ("[plans.gold]\nrank = 5\n", "plans.gold"),
            ('[sla]\nack = "5m"\n', "sla.ack"),
            ('[daemon]\nscan_every = "30s"\n', "daemon.scan_every"),
        ],
    )
    def test_unknown_key(self, tmp_path: Path, text: str, key: str) -> None:
        message = one(tmp_path, text)
        assert message.startswith(key)

    def test_unknown_key_messages(self, tmp_path: Path) -> None:
        assert one(tmp_path, CAL + "hourz = 1\n") == "calendars.c.hourz: unknown key"
        assert one(tmp_path, '[sla]\nack = "5m"\n') == "sla.ack: unknown key"

    @pytest.mark.parametrize(
        ("text", "key"),
        [
            ('[calendars.c]\ntimezone = "UTC"\nhours = { mon = 5 }\n', "calendars.c.hours.mon"),
            (CAL + 'closed = ["tomorrow"]\n', "calendars.c.closed[0]"),
            ('[plans.enterprise]\nworkshops = "six"\n', "plans.enterprise.workshops"),
            ("[plans.enterprise]\nhotline = 3\n", "plans.enterprise.hotline"),
            ("[sla]\nhotline_ack_within = 15\n", "sla.hotline_ack_within"),
            ('[accounts.a]\nname = "A"\nplan = "gold"\n', "accounts.a.plan"),
            ("calendars = 1\n", "calendars"),
        ],
    )
    def test_wrong_type(self, tmp_path: Path, text: str, key: str) -> None:
        message = one(tmp_path, text)
        assert message.startswith(f"{key}: "), message

    def test_missing_required_key(self, tmp_path: Path) -> None:
        text = '[calendars.c]\nhours = { mon = "09:00-18:00" }\n'
        assert one(tmp_path, text) == "calendars.c.timezone: required key is missing"


class TestImpossibleValues:
    def test_unknown_time_zone(self, tmp_path: Path) -> None:
        text = CAL.replace("Europe/Sofia", "Europe/Sofya")
        message = one(tmp_path, text)
        assert message.startswith("calendars.c.timezone: unknown time zone 'Europe/Sofya'")

    def test_unknown_holiday_country(self, tmp_path: Path) -> None:
        message = one(tmp_path, CAL + 'holidays = { country = "XX" }\n')
        assert message.startswith("calendars.c.holidays: unknown holiday country 'XX'")

    def test_unknown_holiday_subdivision(self, tmp_path: Path) -> None:
        message = one(tmp_path, CAL + 'holidays = { country = "US", subdiv = "ZZ" }\n')
        assert message == "calendars.c.holidays: unknown subdivision 'ZZ' of holiday country 'US'"

    def test_unknown_holiday_category(self, tmp_path: Path) -> None:
        text = CAL + 'holidays = { country = "BG", categories = ["public", "bogus"] }\n'
        assert one(tmp_path, text) == (
            "calendars.c.holidays: unknown holiday category 'bogus' for 'BG'; "
            "known: half_day, public, school"
        )

    def test_known_holiday_category_loads(self, tmp_path: Path) -> None:
        path = tmp_path / "ok.toml"
        path.write_text(CAL + 'holidays = { country = "BG", categories = ["public"] }\n')
        assert "c" in load_config(path, {}).calendars

    @pytest.mark.parametrize(
        ("interval", "reason"),
        [
            ('"9-18"', "malformed interval '9-18'"),
            ('"09:00"', "malformed interval '09:00'"),
            ('"25:00-26:00"', "malformed interval '25:00-26:00'"),
            ('"09:00-09:00"', "interval '09:00-09:00' is empty"),
            ('["09:00-12:00", "11:00-14:00"]', "overlap"),
            ("[]", "expected an interval"),
        ],
    )
    def test_malformed_interval(self, tmp_path: Path, interval: str, reason: str) -> None:
        text = f'[calendars.c]\ntimezone = "UTC"\nhours = {{ tue = {interval} }}\n'
        message = one(tmp_path, text)
        assert message.startswith("calendars.c.hours.tue: "), message
        assert reason in message

    def test_malformed_open_hours(self, tmp_path: Path) -> None:
        message = one(tmp_path, CAL + 'open_hours = "9am-5pm"\n')
        assert message.startswith("calendars.c.open_hours: malformed interval '9am-5pm'")

    def test_unknown_weekday(self, tmp_path: Path) -> None:
        text = '[calendars.c]\ntimezone = "UTC"\nhours = { monday = "09:00-18:00" }\n'
        assert one(tmp_path, text).startswith("calendars.c.hours.monday")

    def test_no_hours(self, tmp_path: Path) -> None:
        text = '[calendars.c]\ntimezone = "UTC"\nhours = {}\n'
        assert "at least one weekday" in one(tmp_path, text)

    def test_date_both_open_and_closed(self, tmp_path: Path) -> None:
        message = one(tmp_path, CAL + 'open = ["2026-06-13"]\nclosed = ["2026-06-13"]\n')
        assert message.startswith("calendars.c: ")
        assert "2026, 6, 13" in message or "2026-06-13" in message

    @pytest.mark.parametrize(
        ("text", "key", "reason"),
        [
            (
                '[plans.enterprise.targets.high]\nworkaround = "-1d"\n',
                "plans.enterprise.targets.high.workaround",
                "duration '-1d' must not be negative",
            ),
            (
                '[plans.enterprise.targets.medium]\nresolution = "soon"\n',
                "plans.enterprise.targets.medium.resolution",
                "cannot parse duration 'soon'",
            ),
            (
                CAL + 'business_day = "-9h"\n',
                "calendars.c.business_day",
                "must not be negative",
            ),
            (
                CAL + 'business_day = "1d"\n',
                "calendars.c",
                "business_day must be in hours/minutes",
            ),
            ('[sla]\nhotline_ack_within = "-5m"\n', "sla.hotline_ack_within", "negative"),
            ('[sla]\nhotline_ack_within = "0m"\n', "sla.hotline_ack_within", "longer than 0s"),
            ('[sla]\nhotline_ack_within = "1d"\n', "sla.hotline_ack_within", "hours, minutes"),
            (
                '[accounts.a]\nname = "A"\nplan = "premium"\n[accounts.a.sla.high]\n'
                'response = "-2h"\n',
                "accounts.a.sla.high.response",
                "must not be negative",
            ),
        ],
    )
    def test_bad_duration(self, tmp_path: Path, text: str, key: str, reason: str) -> None:
        message = one(tmp_path, text)
        assert message.startswith(f"{key}: "), message
        assert reason in message

    @pytest.mark.parametrize(
        ("value", "reason"),
        [("-1", "greater than or equal to 0"), ("17", "less than or equal to 16"), ('"two"', "")],
    )
    def test_bad_scan_workers(self, tmp_path: Path, value: str, reason: str) -> None:
        message = one(tmp_path, f"[daemon]\nscan_workers = {value}\n")
        assert message.startswith("daemon.scan_workers: "), message
        assert reason in message

    def test_plan_pointing_at_unknown_calendar(self, tmp_path: Path) -> None:
        message = one(tmp_path, CAL + '[plans.enterprise]\ncalendar = "nowhere"\n')
        assert message == "plans.enterprise.calendar: unknown calendar 'nowhere'; defined: 24x7, c"

    def test_account_pointing_at_unknown_calendar(self, tmp_path: Path) -> None:
        text = CAL + '[accounts.acme]\nname = "ACME"\nplan = "business"\ncalendar = "mars"\n'
        message = one(tmp_path, text)
        assert message == "accounts.acme.calendar: unknown calendar 'mars'; defined: 24x7, c"

    def test_unknown_default_calendar(self, tmp_path: Path) -> None:
        message = one(tmp_path, 'default_calendar = "sofia"\n' + CAL)
        assert message == "default_calendar: unknown calendar 'sofia'"

    def test_default_calendar_required_with_two(self, tmp_path: Path) -> None:
        text = CAL + CAL.replace("calendars.c", "calendars.d")
        assert one(tmp_path, text).startswith("default_calendar: required")

    def test_24x7_cannot_be_redefined(self, tmp_path: Path) -> None:
        text = CAL.replace("calendars.c", 'calendars."24x7"')
        assert one(tmp_path, text).startswith("calendars.24x7: ")

    def test_immediate_only_for_high_response_on_hotline_plans(self, tmp_path: Path) -> None:
        text = (
            '[plans.standard.targets.high]\nresponse = "immediate"\n'
            '[plans.business.targets.low]\nworkaround = "immediate"\n'
        )
        assert sorted(problems(tmp_path, text)) == [
            "plans.business.targets.low.workaround: "
            "'immediate' is only allowed for the high-priority response",
            "plans.standard.targets.high.response: "
            "'immediate' needs a plan with a hotline (hotline = true)",
        ]

    def test_custom_sla_only_on_premium(self, tmp_path: Path) -> None:
        text = (
            '[accounts.a]\nname = "A"\nplan = "business"\n[accounts.a.sla.high]\nresponse = "1h"\n'
        )
        assert "only premium" in one(tmp_path, text)

    def test_every_problem_is_reported_at_once(self, tmp_path: Path) -> None:
        text = (
            'colour = "blue"\n'
            + CAL.replace("Europe/Sofia", "Mars/Olympus")
            + '[plans.enterprise.targets.high]\nworkaround = "-1d"\n'
        )
        keys = sorted(line.split(":")[0] for line in problems(tmp_path, text))
        assert keys == [
            "calendars.c.timezone",
            "colour",
            "plans.enterprise.targets.high.workaround",
        ]

    def test_reference_problems_are_reported_with_schema_problems(self, tmp_path: Path) -> None:
        # One round of check-config shows the schema problems and the unknown calendar names
        # together (calendar c itself has a schema problem, so it is not built further).
        text = (
            'default_calendar = "ofice"\n'
            + CAL
            + 'holidays = { country = "XX" }\n'
            + "hourz = 1\n"
            + '[accounts.acme]\nname = "ACME"\nplan = "business"\ncalendar = "mars"\n'
            + '[plans.business]\ncalendar = "c"\nrank = "high"\n'
        )
        found = sorted(problems(tmp_path, text))
        assert found == [
            "accounts.acme.calendar: unknown calendar 'mars'; defined: 24x7, c",
            "calendars.c.hourz: unknown key",
            "default_calendar: unknown calendar 'ofice'",
            "plans.business.rank: Input should be a valid integer, unable to parse string as an "
            "integer",
        ]

    def test_holiday_problem_alongside_a_schema_problem(self, tmp_path: Path) -> None:
        text = CAL + 'holidays = { country = "XX" }\n[sla]\nack = "5m"\n'
        found = sorted(problems(tmp_path, text))
        assert [line.split(":")[0] for line in found] == ["calendars.c.holidays", "sla.ack"]


class TestUnreadableFiles:
    def test_invalid_toml(self, tmp_path: Path) -> None:
        assert one(tmp_path, "x = [").startswith("not valid TOML")


class TestSecrets:
    def test_literal_secret_in_the_file_is_refused_without_echoing_it(self, tmp_path: Path) -> None:
        message = one(tmp_path, '[slack]\ntoken = "xoxb-123-very-secret"\n')
        assert message.startswith("slack.token: must be a secret reference")
        assert "xoxb-123-very-secret" not in message

    def test_plain_database_password_is_refused(self, tmp_path: Path) -> None:
        text = '[database]\nurl = "postgresql+psycopg://u:hunter2@db/slawatch"\n'
        message = one(tmp_path, text)
        assert "hunter2" not in message
        assert message.startswith("database: url: the password must be a secret reference")

    def test_missing_env_names_the_reference(self) -> None:
        with pytest.raises(SecretError) as info:
            resolve_secret("env:SLACK_TOKEN", {})
        assert (
            str(info.value) == "secret env:SLACK_TOKEN: environment variable SLACK_TOKEN is not set"
        )

    def test_missing_credential(self, tmp_path: Path) -> None:
        with pytest.raises(SecretError, match=r"secret credential:slack: \$CREDENTIALS_DIRECTORY"):
            resolve_secret("credential:slack", {})
        with pytest.raises(SecretError, match="secret credential:slack: cannot read"):
            resolve_secret("credential:slack", {"CREDENTIALS_DIRECTORY": str(tmp_path)})

    def test_missing_and_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "token"
        with pytest.raises(SecretError, match=f"secret file:{path}: cannot read"):
            resolve_secret(f"file:{path}", {})
        path.write_text("\n")
        with pytest.raises(SecretError, match="is empty"):
            resolve_secret(f"file:{path}", {})

    def test_resolved_values_never_show(self, tmp_path: Path) -> None:
        (tmp_path / "slack").write_text("xoxb-real\n")
        secret = resolve_secret("credential:slack", {"CREDENTIALS_DIRECTORY": str(tmp_path)})
        assert secret.get() == "xoxb-real"
        for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}"):
            assert "xoxb-real" not in shown
        env_secret = resolve_secret("env:T", {"T": "abc123"})
        assert isinstance(env_secret, Secret) and env_secret.get() == "abc123"
        assert "abc123" not in repr(env_secret)

    def test_embedded_reference_in_a_url(self) -> None:
        url = "postgresql+psycopg://slawatch:{env:PGPASSWORD}@db/slawatch"
        secret = resolve_embedded(url, {"PGPASSWORD": "pw-123"})
        assert secret.get() == "postgresql+psycopg://slawatch:pw-123@db/slawatch"
        assert "pw-123" not in repr(secret)
        with pytest.raises(SecretError) as info:
            resolve_embedded(url, {})
        assert "env:PGPASSWORD" in str(info.value)

    @pytest.mark.parametrize(
        ("ref", "reason"),
        [
            ("file:relative/path", "absolute path"),
            ("credential:a/b", "must not contain '/'"),
            ("vault:x", "must be a secret reference"),
        ],
    )
    def test_malformed_references(self, tmp_path: Path, ref: str, reason: str) -> None:
        message = one(tmp_path, f'[slack]\ntoken = "{ref}"\n')
        assert message.startswith("slack.token: ")
        assert reason in message
