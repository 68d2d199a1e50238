"""``slawatch simulate``: the escalation timeline, as text and JSON, through the real command."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from slawatch.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "slawatch.toml"

SHORT = """
default_calendar = "24x7"

[plans.standard.targets.medium]
response = "4h"
workaround = "-"
resolution = "-"

[people.ana]
email = "ana@example.com"
slack = "U0ANA"
calendar = "24x7"

[roles]
support_manager = "ana"
team_channel = "#ops"

[[escalation.rules]]
name = "half"
when = "50%"
notify = ["team"]

[[escalation.rules]]
name = "soon"
when = "-30m"
notify = ["ana"]
channels = ["email", "slack"]

[[escalation.rules]]
name = "late"
when = "breach"
notify = ["support_manager", "#ops"]
repeat = "2h"
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["simulate", *args], catch_exceptions=False)


def simulate_json(config: Path, *args: str) -> dict[str, object]:
    result = run("--config", str(config), "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_custom_rules_give_the_exact_timeline(tmp_path: Path) -> None:
    config = tmp_path / "short.toml"
    config.write_text(SHORT, encoding="utf-8")
    data = simulate_json(
        config,
        "--plan",
        "standard",
        "--priority",
        "medium",
        "--opened",
        "2026-11-02T08:00Z",
        "--repeats",
        "2",
    )
    timeline = data["timeline"]
    assert isinstance(timeline, list)
    got = [
        (e["at"], e["stage"], e["step"], e["repetition"], e["recipient"], e["channel"])
        for e in timeline
    ]
    assert got == [
        ("2026-11-02T10:00:00+00:00", "warning", "half", 0, "#ops", "slack"),
        ("2026-11-02T11:30:00+00:00", "warning", "soon", 0, "ana", "email"),
        ("2026-11-02T11:30:00+00:00", "warning", "soon", 0, "ana", "slack"),
        ("2026-11-02T12:00:00+00:00", "breach", "late", 0, "#ops", "slack"),
        ("2026-11-02T12:00:00+00:00", "breach", "late", 0, "ana", "slack"),
        ("2026-11-02T14:00:00+00:00", "overdue", "late", 1, "#ops", "slack"),
        ("2026-11-02T14:00:00+00:00", "overdue", "late", 1, "ana", "slack"),
        ("2026-11-02T16:00:00+00:00", "overdue", "late", 2, "#ops", "slack"),
        ("2026-11-02T16:00:00+00:00", "overdue", "late", 2, "ana", "slack"),
    ]
    first = timeline[0]
    assert first["held_until"] is None and first["urgent"] is False
    assert "50% of the response target used" in first["reason"]
    assert data["not_sent"] == []


def test_example_config_hotline_christmas_eve(tmp_path: Path) -> None:
    data = simulate_json(
        EXAMPLE,
        "--plan",
        "enterprise",
        "--priority",
        "high",
        "--hotline",
        "--opened",
        "2026-12-24T16:30+02:00",
        "--csm",
        "maria",
    )
    timeline = data["timeline"]
    assert isinstance(timeline, list)
    pages = [e for e in timeline if e["stage"] == "page"]
    assert pages[0]["at"] == "2026-12-24T16:30:00+02:00"
    assert pages[0]["channel"] == "sms" and pages[0]["urgent"] is True
    assert pages[0]["held_until"] is None
    by_step: dict[str, list[str]] = {}
    for page in pages:
        by_step.setdefault(page["step"], []).append(page["at"][11:16])
    assert by_step["page:primary"] == [
        "16:30",
        "16:35",
        "16:40",
        "16:45",
        "16:50",
        "16:55",
        "17:00",
    ]
    assert by_step["page:secondary"] == ["16:45", "16:50", "16:55", "17:00"]
    assert by_step["page:manager"] == ["17:00"]
    breach = {
        (e["step"], e["recipient"], e["channel"]): e
        for e in timeline
        if e["stage"] == "breach" and e["target"] == "response"
    }
    assert set(breach) == {
        ("breach-team", "#support", "slack"),
        ("breach-manager", "manager", "email"),
        ("breach-csm", "maria", "slack"),
    }
    # the team channel hears at once; people wait for their (Sofia) working hours after
    # Christmas and the substitute holiday: Tuesday 29 December, 09:00
    assert breach[("breach-team", "#support", "slack")]["held_until"] is None
    assert breach[("breach-manager", "manager", "email")]["held_until"] == (
        "2026-12-29T09:00:00+02:00"
    )
    ats = [e["at"] for e in timeline]
    assert ats == sorted(ats)


def test_text_output_prints_the_timeline_with_reasons(tmp_path: Path) -> None:
    config = tmp_path / "short.toml"
    config.write_text(SHORT, encoding="utf-8")
    result = run(
        "--config",
        str(config),
        "--plan",
        "standard",
        "--priority",
        "medium",
        "--opened",
        "2026-11-02T10:00+02:00",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("timeline (7 messages") for line in lines)
    row = next(line for line in lines if line.startswith("2026-11-02T12:00:00+02:00"))
    assert row.split()[1:5] == ["warning", "response", "#ops", "slack"]
    assert "why: 50% of the response target used" in result.output


def test_defaults_without_people_report_what_cannot_be_sent(tmp_path: Path) -> None:
    config = tmp_path / "bare.toml"
    config.write_text(
        '[calendars.office]\ntimezone = "UTC"\nhours = { mon = "00:00-24:00" }\n', encoding="utf-8"
    )
    data = simulate_json(
        config, "--plan", "standard", "--priority", "low", "--opened", "2026-11-02T00:00Z"
    )
    assert data["timeline"] == []
    reasons = {e["reason"] for e in data["not_sent"]}  # type: ignore[union-attr]
    assert "no recipient for 'team': no team_channel in [roles]" in reasons


def test_unknown_csm_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--config",
            str(EXAMPLE),
            "--plan",
            "enterprise",
            "--priority",
            "high",
            "--opened",
            "2026-12-24T16:30+02:00",
            "--csm",
            "nobody",
        ],
    )
    assert result.exit_code == 2
    assert "--csm: unknown person 'nobody'" in result.output
