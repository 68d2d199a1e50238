"""``slawatch simulate``: each target's due time for a made-up incident (text and JSON).

The escalation timeline part of the output is tested in ``test_simulate_timeline.py``.

Example config facts used below: ``sofia`` is Mon-Fri 09:00-18:00 with BG holidays and
31 Dec 2026 closed; ``new_york`` is Mon-Fri 09:00-12:30 + 13:30-18:00 (8 h) with US/NY
holidays; ``hotline_ack_within`` is 15 min; enterprise high is immediate / 1d / 30d.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from slawatch.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "slawatch.toml"
CHRISTMAS_EVE = "2026-12-24T16:30+02:00"


def run(*args: str) -> Result:
    return CliRunner().invoke(
        cli, ["simulate", "--config", str(EXAMPLE), *args], catch_exceptions=False
    )


def targets(*args: str) -> dict[str, dict[str, Any]]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data["timeline"], list)
    return {item["target"]: item for item in data["targets"]}


def test_enterprise_hotline_on_christmas_eve_json() -> None:
    got = targets(
        "--plan", "enterprise", "--priority", "high", "--hotline", "--opened", CHRISTMAS_EVE
    )
    assert list(got) == ["response", "workaround", "resolution"]
    # Immediate: 15 min on the 24x7 clock.
    assert got["response"]["due_at"] == "2026-12-24T16:45:00+02:00"
    assert got["response"]["clock"] == "24x7"
    # 24, 25 Dec holidays, 26-27 weekend, 28 Dec the observed Christmas Monday: the 9 h
    # business day is Tue 29 Dec 09:00-18:00, so due at its closing instant.
    assert got["workaround"]["due_at"] == "2026-12-29T18:00:00+02:00"
    assert got["workaround"]["clock"] == "sofia"
    # 30 business days from Tue 29 Dec: 29, 30 Dec (31 closed, 1 Jan holiday) = 2, then
    # 4-8 Jan (7), 11-15 (12), 18-22 (17), 25-29 (22), 1-5 Feb (27), 8, 9, 10 Feb (30).
    assert got["resolution"]["due_at"] == "2027-02-10T18:00:00+02:00"
    for item in got.values():
        assert item["state"] == "running"


def test_due_times_are_shown_in_the_offset_of_opened() -> None:
    got = targets("--plan", "enterprise", "--priority", "high", "--opened", "2026-12-24T14:30Z")
    assert got["response"]["due_at"] == "2026-12-24T14:45:00+00:00"
    assert got["workaround"]["due_at"] == "2026-12-29T16:00:00+00:00"


def test_other_calendar() -> None:
    # 16:30+02:00 on Thu 24 Dec is 09:30 EST. 1d = 8 h on new_york: Thu 09:30-12:30 (3 h) +
    # 13:30-18:00 (4 h 30) = 7 h 30; Fri 25 Dec is Christmas, then the weekend; the last
    # 30 min run Mon 28 Dec 09:00-09:30 EST = 16:30+02:00.
    got = targets(
        "--plan",
        "enterprise",
        "--priority",
        "medium",
        "--opened",
        CHRISTMAS_EVE,
        "--calendar",
        "new_york",
    )
    assert got["response"]["clock"] == "new_york"
    assert got["response"]["due_at"] == "2026-12-28T16:30:00+02:00"


def test_no_target_is_null() -> None:
    got = targets("--plan", "standard", "--priority", "low", "--opened", CHRISTMAS_EVE)
    assert got["workaround"]["due_at"] is None
    assert got["workaround"]["state"] == "none"
    assert got["resolution"]["due_at"] is None
    # Standard low response is 5d = 45 h from Tue 29 Dec 09:00: 29, 30 Dec, 4, 5, 6 Jan.
    assert got["response"]["due_at"] == "2027-01-06T18:00:00+02:00"


def test_text_output() -> None:
    result = run(
        "--plan", "enterprise", "--priority", "high", "--hotline", "--opened", CHRISTMAS_EVE
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0] == "enterprise plan, high priority via hotline, opened 2026-12-24T16:30:00+02:00"
    )
    assert lines[1].split() == ["target", "clock", "duration", "due", "at"]
    assert lines[2].split() == ["response", "24x7", "15m", "2026-12-24T16:45:00+02:00"]
    assert lines[3].split() == ["workaround", "sofia", "9h", "2026-12-29T18:00:00+02:00"]
    assert lines[4].split() == ["resolution", "sofia", "270h", "2027-02-10T18:00:00+02:00"]
    low = run("--plan", "standard", "--priority", "low", "--opened", CHRISTMAS_EVE)
    assert "workaround  -           -           no target" in low.stdout


def test_bad_input_exits_2_naming_the_option() -> None:
    result = run("--plan", "enterprise", "--priority", "high", "--opened", "2026-12-24T16:30")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --opened: ")
    assert "no time zone offset" in result.stderr
    result = run("--plan", "enterprise", "--priority", "high", "--opened", "Christmas")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --opened: cannot parse 'Christmas'")
    result = run(
        "--plan",
        "enterprise",
        "--priority",
        "high",
        "--opened",
        CHRISTMAS_EVE,
        "--calendar",
        "mars",
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --calendar: unknown calendar 'mars'")
    result = run("--plan", "gold", "--priority", "high", "--opened", CHRISTMAS_EVE)
    assert result.exit_code == 2
    assert "--plan" in result.stderr


def test_real_process() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SLAWATCH_CONFIG"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "slawatch",
            "simulate",
            "--config",
            str(EXAMPLE),
            "--plan",
            "enterprise",
            "--priority",
            "high",
            "--hotline",
            "--opened",
            CHRISTMAS_EVE,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [t["due_at"] for t in data["targets"]] == [
        "2026-12-24T16:45:00+02:00",
        "2026-12-29T18:00:00+02:00",
        "2027-02-10T18:00:00+02:00",
    ]
