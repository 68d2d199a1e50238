"""``slawatch oncall``: now and the coming weeks, text and JSON, through the real command."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from slawatch.cli.main import cli

CONFIG = """
[people.ivan]
name = "Ivan Georgiev"
[people.maria]
name = "Maria Petrova"
[people.zoe]

[oncall]
people = ["ivan", "maria"]
handoff = "mon 09:00"
timezone = "Europe/Sofia"
overrides = [{ start = "2026-12-24", end = "2026-12-27", person = "zoe" }]
"""


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    config = tmp_path / "oncall.toml"
    config.write_text(CONFIG, encoding="utf-8")
    result = CliRunner().invoke(cli, ["oncall", "--config", str(config), *args])
    return result.exit_code, result.output


def test_json_now_and_next_weeks(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "--at", "2026-12-20T12:00+02:00", "--weeks", "2", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert (data["primary"], data["secondary"], data["override"]) == ("ivan", "maria", False)
    assert [(s["start"], s["primary"], s["secondary"], s["override"]) for s in data["shifts"]] == [
        ("2026-12-20T12:00:00+02:00", "ivan", "maria", False),
        ("2026-12-21T09:00:00+02:00", "maria", "ivan", False),
        ("2026-12-24T00:00:00+02:00", "zoe", "maria", True),
        ("2026-12-28T00:00:00+02:00", "maria", "ivan", False),
        ("2026-12-28T09:00:00+02:00", "ivan", "maria", False),
    ]
    assert data["shifts"][-1]["end"] == "2027-01-03T12:00:00+02:00"


def test_text_names_people_and_marks_overrides(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "--at", "2026-12-25T10:00+02:00", "--weeks", "1")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == (
        "on call at Fri 2026-12-25 10:00: primary zoe, secondary maria (Maria Petrova) (override)"
    )
    assert lines[1] == "rotation: ivan, maria; handoff mon 09:00 Europe/Sofia"
    assert lines[3].split() == [
        "Fri",
        "2026-12-25",
        "10:00",
        "Mon",
        "2026-12-28",
        "00:00",
        "zoe",
        "maria",
        "override",
    ]


def test_bad_instant_exits_2(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "--at", "2026-12-25T10:00")
    assert code == 2
    assert "--at" in out and "no time zone offset" in out
