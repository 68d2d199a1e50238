"""``slawatch meeting|workshop|entitlement``: exit codes, output and the JSON shape.

Runs the real click commands against a real SQLite file named in a real config file.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from slawatch.cli.main import cli
from slawatch.store.db import Database
from slawatch.store.migrate import upgrade
from slawatch.store.models import Account, EntitlementUse, Meeting, PlanChange

CONFIG = """
[database]
url = "sqlite:///{db}"

[people.maria]
name = "Maria Petrova"
email = "maria@example.com"
slack = "U1"

[people.lead]
name = "Support Lead"
email = "lead@example.com"

[roles]
support_lead = "lead"
"""


@pytest.fixture
def env(tmp_path: Path) -> tuple[Path, Database]:
    db_path = tmp_path / "slawatch.db"
    config = tmp_path / "slawatch.toml"
    config.write_text(CONFIG.format(db=db_path), encoding="utf-8")
    db = Database(f"sqlite:///{db_path}")
    upgrade(db)
    created = datetime(2025, 1, 1, tzinfo=UTC)
    with db.session() as s:
        for account_id, plan, start, csm in [
            ("acme", "enterprise", date(2025, 8, 31), "maria"),
            ("globex", "premium", date(2025, 3, 10), "maria"),
            ("smallco", "business", date(2025, 1, 15), None),
            ("free", "standard", date(2025, 1, 15), None),
        ]:
            s.add(
                Account(
                    id=account_id,
                    name=account_id.title(),
                    plan=plan,
                    csm=csm,
                    contract_start=start,
                    emails=[],
                    phones=[],
                    sla_overrides={},
                    active=True,
                    created_at=created,
                    updated_at=created,
                )
            )
            s.flush()
            s.add(PlanChange(account_id=account_id, plan=plan, effective_at=created))
    yield config, db
    db.dispose()


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--config", str(config)])


def test_meeting_record_then_list_json(env: tuple[Path, Database]) -> None:
    config, db = env
    result = run(config, "meeting", "list", "--json", "--today", "2025-11-20")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    by_account = {r["account"]: r for r in rows}
    assert by_account["acme"]["due"] == "2025-11-30"
    assert by_account["acme"]["state"] == "due"
    assert "free" not in by_account  # standard: no alignment meetings
    for row in rows:
        assert set(row) >= {"account", "due", "state"}
        assert row["state"] in {"upcoming", "due", "overdue", "held"}
        date.fromisoformat(row["due"])

    result = run(config, "meeting", "record", "acme", "--date", "2025-11-20", "--notes", "QBR")
    assert result.exit_code == 0, result.output
    assert "satisfies the meeting due 2025-11-30" in result.stdout
    assert "next due" in result.stdout  # relative to the real date
    again = run(config, "meeting", "record", "acme", "--date", "2025-11-20")
    assert again.exit_code == 0 and "already recorded" in again.stdout
    with db.read_session() as s:
        [meeting] = s.execute(select(Meeting)).scalars()
        assert (meeting.account_id, meeting.held_on, meeting.notes) == (
            "acme",
            date(2025, 11, 20),
            "QBR",
        )
    rows = json.loads(run(config, "meeting", "list", "--json", "--today", "2025-11-21").stdout)
    acme = [(r["due"], r["state"]) for r in rows if r["account"] == "acme"]
    assert acme == [("2025-11-30", "held"), ("2026-02-28", "upcoming")]


def test_meeting_list_filters(env: tuple[Path, Database]) -> None:
    config, _ = env
    rows = json.loads(run(config, "meeting", "list", "--json", "--today", "2026-03-12").stdout)
    states = {(r["account"], r["state"]) for r in rows}
    assert ("acme", "overdue") in states  # 28 Feb + 7 days grace has passed
    overdue = json.loads(
        run(config, "meeting", "list", "--overdue", "--json", "--today", "2026-03-12").stdout
    )
    assert overdue and all(r["state"] == "overdue" for r in overdue)
    mine = json.loads(
        run(
            config, "meeting", "list", "--csm", "Maria Petrova", "--json", "--today", "2026-03-12"
        ).stdout
    )
    assert {r["account"] for r in mine} == {"acme", "globex"}
    assert (
        json.loads(
            run(
                config, "meeting", "list", "--csm", "maria", "--json", "--today", "2026-03-12"
            ).stdout
        )
        == mine
    )
    soon = json.loads(
        run(
            config, "meeting", "list", "--due-within", "30d", "--json", "--today", "2026-03-12"
        ).stdout
    )
    assert all(date.fromisoformat(r["due"]) <= date(2026, 4, 11) for r in soon)
    text = run(config, "meeting", "list", "--today", "2026-03-12")
    assert text.exit_code == 0 and "overdue" in text.stdout and "Maria Petrova" in text.stdout


def test_meeting_bad_input_exits_2(env: tuple[Path, Database]) -> None:
    config, db = env
    bad_date = run(config, "meeting", "record", "acme", "--date", "20/11/2025")
    assert bad_date.exit_code == 2 and "--date" in bad_date.stderr
    unknown = run(config, "meeting", "record", "nope", "--date", "2025-11-20")
    assert unknown.exit_code == 2 and "nope" in unknown.stderr
    future = run(config, "meeting", "record", "acme", "--date", "2999-01-01")
    assert future.exit_code == 2 and "future" in future.stderr
    within = run(config, "meeting", "list", "--due-within", "soon")
    assert within.exit_code == 2 and "--due-within" in within.stderr
    with db.read_session() as s:
        assert s.execute(select(func.count()).select_from(Meeting)).scalar_one() == 0


def test_meeting_plan_shows_the_year_and_reminders(env: tuple[Path, Database]) -> None:
    config, _ = env
    result = run(config, "meeting", "plan", "acme", "--today", "2025-09-01")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for due in ("2025-11-30", "2026-02-28", "2026-05-31", "2026-08-31"):
        assert due in out
    assert "2025-11-16  reminder 14d -> maria (slack)" in out
    assert "2025-12-08  overdue notice -> maria (slack), lead (email)" in out
    assert "overdue notice" in out and "lead (email)" in out
    data = json.loads(
        run(config, "meeting", "plan", "acme", "--json", "--today", "2025-09-01").stdout
    )
    assert data["cadence"] == "quarterly" and data["anchor"] == "2025-08-31"
    assert [m["due"] for m in data["meetings"]] == [
        "2025-11-30",
        "2026-02-28",
        "2026-05-31",
        "2026-08-31",
    ]
    small = run(config, "meeting", "plan", "smallco", "--today", "2025-02-01")
    assert "lead (email)" in small.stdout and "biannual" in small.stdout


def test_entitlement_use_refuse_force_and_show(env: tuple[Path, Database]) -> None:
    config, db = env
    first = run(config, "entitlement", "use", "acme", "restore", "--note", "board wiped")
    assert first.exit_code == 0, first.output
    second = run(config, "entitlement", "use", "acme", "restore")
    assert second.exit_code == 0 and "used up" in second.stdout
    refused = run(config, "entitlement", "use", "acme", "restore")
    assert refused.exit_code == 2
    assert "all 2 data-restore events" in refused.stderr and "--force" in refused.stderr
    forced = run(config, "entitlement", "use", "acme", "restore", "--force")
    assert forced.exit_code == 0 and "OVERAGE" in forced.stdout
    with db.read_session() as s:
        uses = list(s.execute(select(EntitlementUse).order_by(EntitlementUse.id)).scalars())
    assert [(u.kind, u.overage, u.note) for u in uses] == [
        ("restore", False, "board wiped"),
        ("restore", False, None),
        ("restore", True, None),
    ]
    shown = run(config, "entitlement", "show", "acme", "--json")
    assert shown.exit_code == 0
    data = json.loads(shown.stdout)
    assert data["restore"] == {"used": 3, "included": 2, "remaining": 0, "overage": 1}
    assert data["report"] == {"used": 0, "included": 2, "remaining": 2, "overage": 0}
    assert data["ticket"]["included"] == 0 and data["sandbox"]["included"] == 1
    text = run(config, "entitlement", "show", "acme")
    assert "restore" in text.stdout and "1 overage" in text.stdout


def test_entitlement_premium_tickets_and_unlimited_sandboxes(env: tuple[Path, Database]) -> None:
    config, _ = env
    for _ in range(3):
        assert run(config, "entitlement", "use", "globex", "sandbox").exit_code == 0
    assert run(config, "entitlement", "use", "globex", "ticket").exit_code == 0
    data = json.loads(run(config, "entitlement", "show", "globex", "--json").stdout)
    assert data["sandbox"]["included"] == "multiple" and data["sandbox"]["used"] == 3
    assert data["ticket"] == {"used": 1, "included": 30, "remaining": 29, "overage": 0}
    refused = run(config, "entitlement", "use", "smallco", "sandbox")
    assert refused.exit_code == 2 and "includes no sandboxes" in refused.stderr
    bad = run(config, "entitlement", "use", "acme", "coffee")
    assert bad.exit_code == 2


def test_entitlement_show_resets_at_the_anniversary(env: tuple[Path, Database]) -> None:
    config, _ = env
    assert run(config, "entitlement", "use", "acme", "report").exit_code == 0
    today = datetime.now(UTC).date()
    data = json.loads(run(config, "entitlement", "show", "acme", "--json").stdout)
    assert data["report"]["used"] == 1
    start = date.fromisoformat(data["contract_year_start"])
    end = date.fromisoformat(data["resets_on"])
    assert start <= today < end and start.month == 8 and start.day == 31
    assert date.fromisoformat(data["contract_year_end"]) == end - timedelta(days=1)
    after = json.loads(
        run(config, "entitlement", "show", "acme", "--json", "--today", end.isoformat()).stdout
    )
    assert after["report"]["used"] == 0 and after["contract_year_start"] == end.isoformat()


def test_workshop_record_and_list(env: tuple[Path, Database]) -> None:
    config, _ = env
    result = run(config, "workshop", "record", "acme", "--date", "2025-09-15")
    assert result.exit_code == 0, result.output
    rows = json.loads(run(config, "workshop", "list", "--json", "--today", "2026-03-15").stdout)
    acme = next(r for r in rows if r["account"] == "acme")
    assert (acme["delivered"], acme["included"], acme["behind"]) == (1, 6, True)
    text = run(config, "workshop", "list", "--today", "2026-03-15").stdout
    assert "1/6" in text and "behind" in text
    assert run(config, "workshop", "record", "acme", "--date", "x").exit_code == 2


def test_accounts_declared_in_the_config_are_listed(tmp_path: Path) -> None:
    config = tmp_path / "slawatch.toml"
    config.write_text(
        CONFIG.format(db=tmp_path / "fresh.db")
        + '\n[accounts.initech]\nname = "Initech"\nplan = "business"\n'
        'contract_start = "2026-01-31"\n',
        encoding="utf-8",
    )
    result = run(config, "meeting", "list", "--json", "--today", "2026-07-20")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "account": "initech",
            "name": "Initech",
            "plan": "business",
            "csm": None,
            "cadence": "biannual",
            "due": "2026-07-31",
            "state": "due",
            "held_on": None,
            "days": 11,
        }
    ]
