"""``slawatch check-config``: ``ok`` and a summary with exit 0, or every error with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from slawatch.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "slawatch.toml"


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, ["check-config", *args], env=env, catch_exceptions=False)


def test_example_config_is_ok() -> None:
    result = run("--config", str(EXAMPLE), env={"SLAWATCH_API_TOKEN": "t"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ok"
    assert lines[1].startswith(f"{EXAMPLE}: ")
    assert "calendars (default sofia)" in lines[1]
    assert "4 plans" in lines[1]
    assert result.stderr == ""


def test_config_from_the_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "only-calendar.toml"
    path.write_text('[calendars.office]\ntimezone = "UTC"\nhours = { mon = "09:00-17:00" }\n')
    result = run(env={"SLAWATCH_CONFIG": str(path)})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "ok",
        f"{path}: 2 calendars (default office), 4 plans, 0 accounts, 0 people, "
        "senders: console/file only",
    ]


def test_every_error_is_printed_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'colour = "blue"\n'
        '[calendars.c]\ntimezone = "Mars/Olympus"\nhours = { mon = "9-18" }\n'
        '[plans.enterprise.targets.high]\nworkaround = "-1d"\n'
    )
    result = run("--config", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    errors = result.stderr.splitlines()
    assert len(errors) == 4, errors
    assert all(line.startswith(f"{path}: ") for line in errors)
    keys = sorted(line.removeprefix(f"{path}: ").split(":")[0] for line in errors)
    assert keys == [
        "calendars.c.hours.mon",
        "calendars.c.timezone",
        "colour",
        "plans.enterprise.targets.high.workaround",
    ]


def test_reference_errors_after_the_schema_passes(tmp_path: Path) -> None:
    path = tmp_path / "refs.toml"
    path.write_text(
        '[calendars.c]\ntimezone = "UTC"\nhours = { mon = "09:00-17:00" }\n'
        'holidays = { country = "XX" }\n'
        '[accounts.acme]\nname = "ACME"\nplan = "business"\ncalendar = "mars"\n'
    )
    result = run("--config", str(path))
    assert result.exit_code == 2
    assert sorted(result.stderr.splitlines()) == [
        f"{path}: accounts.acme.calendar: unknown calendar 'mars'; defined: 24x7, c",
        f"{path}: calendars.c.holidays: unknown holiday country 'XX'; use an ISO 3166 code the "
        "holidays package supports, like 'BG' or 'US'",
    ]


def test_missing_secret_names_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text(
        '[api]\ntokens = ["env:SLAWATCH_TEST_NOPE"]\n[slack]\ntoken = "credential:slack-bot"\n'
    )
    result = run(
        "--config", str(path), env={"SLAWATCH_TEST_NOPE": None, "CREDENTIALS_DIRECTORY": None}
    )
    assert result.exit_code == 2
    errors = result.stderr.splitlines()
    assert errors[0] == (
        f"{path}: api.tokens[0]: secret env:SLAWATCH_TEST_NOPE: "
        "environment variable SLAWATCH_TEST_NOPE is not set"
    )
    assert errors[1].startswith(f"{path}: slack.token: secret credential:slack-bot: ")


def test_resolved_secret_value_is_never_printed(tmp_path: Path) -> None:
    (tmp_path / "slack-bot").write_text("xoxb-do-not-print\n")
    path = tmp_path / "secrets.toml"
    path.write_text('[slack]\ntoken = "credential:slack-bot"\n')
    result = run("--config", str(path), env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert result.exit_code == 0, result.stderr
    assert "xoxb-do-not-print" not in result.output


def test_missing_file(tmp_path: Path) -> None:
    result = run("--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{tmp_path / 'nope.toml'}: file not found"


@pytest.mark.skipif(not Path(sys.executable).exists(), reason="no interpreter path")
def test_real_process(tmp_path: Path) -> None:
    """The installed entry point, as a user runs it (``python -m slawatch``)."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[calendars.c]\ntimezone = "UTC"\nhours = { mon = "09:00-17:00" }\nx = 1\n')
    env = {k: v for k, v in os.environ.items() if k != "SLAWATCH_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "slawatch", "check-config", "--config", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"{bad}: calendars.c.x: unknown key"
    good = tmp_path / "good.toml"
    good.write_text('[calendars.c]\ntimezone = "UTC"\nhours = { mon = "09:00-17:00" }\n')
    done = subprocess.run(
        [sys.executable, "-m", "slawatch", "check-config", "--config", str(good)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "ok"
