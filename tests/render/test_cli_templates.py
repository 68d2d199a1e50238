"""``slawatch templates render`` with --example and on a stored incident (SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from slawatch.cli.main import cli

CONFIG = """
[calendars.ny]
timezone = "America/New_York"
hours = { mon = "09:00-17:00", tue = "09:00-17:00", wed = "09:00-17:00", thu = "09:00-17:00" }

[accounts.acme]
name = "ACME <Corp>"
plan = "enterprise"
calendar = "ny"
csm = "maria"

[people.maria]
name = "Maria Petrova"
calendar = "sofia"

[calendars.sofia]
timezone = "Europe/Sofia"
hours = { mon = "09:00-18:00", tue = "09:00-18:00", wed = "09:00-18:00" }

default_calendar = "ny"

[links]
incident_url = "https://hd.example/t/{id}"
"""


def invoke(tmp_path: Path, *args: str, extra: str = "") -> Result:
    config = tmp_path / "t.toml"
    if not config.exists():
        db = tmp_path / "t.db"
        _, _, rest = CONFIG.partition("[calendars.ny]")
        config.write_text(
            'default_calendar = "ny"\n'
            + "[calendars.ny]"
            + rest.replace('default_calendar = "ny"\n', "")
            + f'\n[database]\nurl = "sqlite:///{db}"\n'
            + extra,
            encoding="utf-8",
        )
    return CliRunner().invoke(cli, [*args, "--config", str(config)])


def test_example_sms(tmp_path: Path) -> None:
    result = invoke(tmp_path, "templates", "render", "page", "--channel", "sms", "--example")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("PAGE HD-1042 high hotline ack by")
    assert "1 segment(s)" in result.stdout


def test_example_slack_json(tmp_path: Path) -> None:
    result = invoke(
        tmp_path, "templates", "render", "breach", "--channel", "slack", "--example", "--json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["channel"] == "slack" and data["blocks"][0]["type"] == "header"
    assert "https://hd.example/t/HD-1042" in json.dumps(data["blocks"])


def test_needs_exactly_one_source(tmp_path: Path) -> None:
    result = invoke(tmp_path, "templates", "render", "breach", "--channel", "sms")
    assert result.exit_code == 2 and "exactly one of --incident" in result.stderr
    result = invoke(tmp_path, "templates", "render", "nope", "--channel", "sms", "--example")
    assert result.exit_code == 2


def test_broken_user_template_shows_fallback_and_error(tmp_path: Path) -> None:
    user = tmp_path / "tpl"
    (user / "sms").mkdir(parents=True)
    (user / "sms" / "breach.txt.j2").write_text("{{ incident.nope }}", encoding="utf-8")
    result = invoke(
        tmp_path, "templates", "render", "breach", "--channel", "sms", "--example",
        extra=f'\n[templates]\ndir = "{user}"\n',
    )  # fmt: skip
    assert result.exit_code == 0
    assert "template error: sms/breach.txt.j2" in result.stderr
    assert result.stdout.startswith("[slawatch] SLA breached HD-1042 (high)")


def test_stored_incident_renders_its_current_clock(tmp_path: Path) -> None:
    opened = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York, in the past
    opened_result = invoke(
        tmp_path, "incident", "open", "T-9", "--account", "acme", "--priority", "medium",
        "--title", "Exports <!here> fail", "--opened", opened.isoformat(),
    )  # fmt: skip
    assert opened_result.exit_code == 0, (opened_result.stdout, opened_result.stderr)
    at = (opened + timedelta(hours=3)).isoformat()
    result = invoke(
        tmp_path, "templates", "render", "warning", "--channel", "email",
        "--incident", "T-9", "--target", "response", "--at", at,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Subject: [slawatch] SLA warning: T-9 (medium) ACME <Corp> - Exports <!here> fail" in out
    assert "Target:    response (running" in out
    assert "CSM:       Maria Petrova" in out
    assert "https://hd.example/t/T-9" in out
    assert "EET (UTC+02:00)" in out and "for the account" in out  # Maria's zone and the account's
    assert "ACME &lt;Corp&gt;" in out  # the HTML part is escaped


def test_unknown_incident_exits_2(tmp_path: Path) -> None:
    invoke(tmp_path, "db", "upgrade")
    result = invoke(
        tmp_path, "templates", "render", "breach", "--channel", "sms", "--incident", "NOPE"
    )
    assert result.exit_code == 2 and "incident 'NOPE' not found" in result.stderr


def test_check_config_warns_about_a_broken_user_template(tmp_path: Path) -> None:
    user = tmp_path / "tpl"
    (user / "slack").mkdir(parents=True)
    (user / "slack" / "breach.json.j2").write_text("{{ x", encoding="utf-8")
    result = invoke(tmp_path, "check-config", extra=f'\n[templates]\ndir = "{user}"\n')
    assert result.exit_code == 0, result.stderr
    assert "warning: " in result.stdout
    assert "templates.dir: slack/breach.json.j2: TemplateSyntaxError" in result.stdout
