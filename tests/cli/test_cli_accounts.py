"""``slawatch account ...`` and ``slawatch db ...`` on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from slawatch.store.migrate import head_revision

from .conftest import Cli


def test_db_upgrade_and_current(run: Cli) -> None:
    assert run("db", "current").stdout.startswith("(empty) (behind")
    assert run.json("db", "current")["current"] is None
    assert f"upgraded from (empty) to {head_revision()}" in run("db", "upgrade").stdout
    assert "already at" in run("db", "upgrade").stdout
    shown = run.json("db", "current")
    assert (shown["current"], shown["up_to_date"]) == (head_revision(), True)
    assert run("db", "current").stdout.strip() == f"{head_revision()} (up to date)"


def test_account_add_set_show_list(run: Cli) -> None:
    out = run(
        "account",
        "add",
        "acme",
        "--name",
        "Acme",
        "--plan",
        "enterprise",
        "--csm",
        "alice",
        "--contract-start",
        "2026-01-15",
        "--email",
        "ops@acme.example",
        "--phone",
        "+359881234567",
    ).stdout
    assert "added account acme" in out
    shown = run.json("account", "show", "acme")
    assert shown["emails"] == ["ops@acme.example"]
    assert shown["contract_start"] == "2026-01-15"
    run("account", "set", "acme", "--plan", "premium", "--sla", "high.workaround=4h")
    shown = run.json("account", "show", "acme")
    assert (shown["plan"], shown["sla"]) == ("premium", {"high": {"workaround": "4h"}})
    run("account", "set", "acme", "--inactive", "--calendar", "sofia")
    assert run.json("account", "show", "acme")["active"] is False
    listed = run.json("account", "list")
    # the config file's [accounts.configured] is synced in too
    assert [a["id"] for a in listed] == ["acme", "configured"]
    assert "acme" in run("account", "list").stdout
    assert "plan: premium" in run("account", "show", "acme").stdout


def test_account_errors_exit_2_naming_the_field(run: Cli) -> None:
    result = run("account", "add", "x", "--name", "X", "--plan", "standard", "--csm", "bob", code=2)
    assert "csm: unknown person 'bob'" in result.stderr
    result = run(
        "account", "add", "x", "--name", "X", "--plan", "standard", "--sla", "high.x=1h", code=2
    )
    assert "sla" in result.stderr
    result = run("account", "show", "nobody", code=2)
    assert "account 'nobody' not found" in result.stderr
    result = run("account", "set", "configured", code=2)
    assert "nothing to change" in result.stderr
    assert [a["id"] for a in run.json("account", "list")] == ["configured"]


def test_account_import_reports_every_bad_row(run: Cli, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(
        "id,name,plan,phones\nok,OK,business,\nbad,Bad,business,12345\nworse,,gold,\n",
        encoding="utf-8",
    )
    result = run("account", "import", str(path), code=2)
    assert f"{path}:3: phones[0]:" in result.stderr
    assert f"{path}:4: name: is required" in result.stderr
    assert "nothing was imported" in result.stderr
    assert [a["id"] for a in run.json("account", "list")] == ["configured"]
    path.write_text("id,name,plan\nok,OK,business\n", encoding="utf-8")
    assert "1 created, 0 updated" in run("account", "import", str(path)).stdout


def test_real_process_exit_code_and_stderr(cli_config: Path) -> None:
    """The installed entry point, as a user runs it: exit 2, message on stderr."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "slawatch",
            "incident",
            "open",
            "T-1",
            "--account",
            "nobody",
            "--priority",
            "high",
            "--title",
            "x",
            "--config",
            str(cli_config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "account: unknown account 'nobody'" in result.stderr
    assert result.stdout == ""
