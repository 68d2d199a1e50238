"""Accounts and incidents through the intake service, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from slawatch.config.loader import Settings
from slawatch.core.plans import PRIORITIES
from slawatch.errors import ConflictError, NotFoundError, ValidationError
from slawatch.service.accounts import ImportRejected
from slawatch.service.incidents import EventInput, IncidentInput
from slawatch.service.intake import Intake
from slawatch.store import repo
from slawatch.store.db import Database
from slawatch.store.models import IncidentEventRow, PlanChange

# Wednesday 2026-11-25 10:00 in Sofia (UTC+2): inside working hours.
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def changes() -> list[int]:
    return []


@pytest.fixture
def intake(db: Database, sample_settings: Settings, clock: Clock, changes: list[int]) -> Intake:
    service = Intake(db, sample_settings, clock=clock, on_change=changes.append)
    service.add_account("acme", {"name": "Acme", "plan": "enterprise", "csm": "alice"})
    return service


def _open(intake: Intake, key: str = "T-1", **kw: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "external_id": key,
        "account": "acme",
        "priority": "medium",
        "title": "Reports are slow",
    }
    fields.update(kw)
    view, created = intake.open_incident(IncidentInput(**fields))  # type: ignore[arg-type]
    assert created
    return view


# ------------------------------------------------------------------------------ accounts
def test_account_add_show_list_and_duplicate(intake: Intake) -> None:
    shown = intake.get_account("acme")
    assert (shown["name"], shown["plan"], shown["csm"], shown["active"]) == (
        "Acme",
        "enterprise",
        "alice",
        True,
    )
    with pytest.raises(ConflictError) as exc:
        intake.add_account("acme", {"name": "Again", "plan": "standard"})
    assert exc.value.field == "id"
    assert [a["id"] for a in intake.list_accounts()] == ["acme"]
    with pytest.raises(NotFoundError):
        intake.get_account("nope")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "X", "plan": "gold"}, "plan"),
        ({"name": "", "plan": "standard"}, "name"),
        ({"name": "X", "plan": "standard", "calendar": "mars"}, "calendar"),
        ({"name": "X", "plan": "standard", "csm": "bob"}, "csm"),
        ({"name": "X", "plan": "standard", "emails": ["not-an-email"]}, "emails[0]"),
        ({"name": "X", "plan": "standard", "phones": ["0881234567"]}, "phones[0]"),
        ({"name": "X", "plan": "standard", "contract_start": "31/01/2026"}, "contract_start"),
        ({"name": "X", "plan": "standard", "sla": {"high": {"response": "1h"}}}, "sla"),
        ({"name": "X", "plan": "premium", "sla": {"urgent": {"response": "1h"}}}, "sla.urgent"),
        (
            {"name": "X", "plan": "premium", "sla": {"high": {"response": "soon"}}},
            "sla.high.response",
        ),
        ({"name": "X", "plan": "standard", "colour": "red"}, "colour"),
    ],
)
def test_account_validation_names_the_field(
    intake: Intake, data: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        intake.add_account("new", data)
    assert exc.value.field == field
    assert [a["id"] for a in intake.list_accounts()] == ["acme"]


def test_premium_overrides_apply_to_clocks(intake: Intake) -> None:
    intake.add_account(
        "vip", {"name": "VIP", "plan": "premium", "sla": {"medium": {"response": "2h"}}}
    )
    view = _open(intake, account="vip")
    response = view["clocks"][0]  # type: ignore[index]
    assert response["target"] == "response"
    assert response["duration_seconds"] == 7200
    assert response["due_at"] == "2026-11-25T10:00:00+00:00"


def test_plan_change_applies_to_incidents_opened_after_it(
    intake: Intake, db: Database, clock: Clock
) -> None:
    before = _open(intake, "T-before", opened_at=NOW - timedelta(hours=1))
    clock.now = NOW + timedelta(hours=1)
    intake.set_account("acme", {"plan": "standard"})
    after = _open(intake, "T-after")
    backdated = _open(intake, "T-backdated", opened_at=NOW)
    assert (before["plan"], after["plan"], backdated["plan"]) == (
        "enterprise",
        "standard",
        "enterprise",
    )
    with db.read_session() as s:
        changes = s.execute(select(PlanChange.plan).order_by(PlanChange.effective_at)).scalars()
        assert list(changes) == ["enterprise", "standard"]


def test_sync_config_accounts_upserts(
    db: Database, sample_settings: Settings, clock: Clock
) -> None:
    intake = Intake(db, sample_settings, clock=clock)
    assert intake.sync_config_accounts() == ["configured"]
    assert intake.sync_config_accounts() == []
    account = intake.get_account("configured")
    assert (account["plan"], account["csm"], account["emails"]) == (
        "business",
        "alice",
        ["ops@configured.example"],
    )


def test_import_csv_all_or_nothing(intake: Intake, tmp_path: Path) -> None:
    bad = tmp_path / "accounts.csv"
    bad.write_text(
        "id,name,plan,emails\n"
        "good,Good Co,business,a@good.example\n"
        "bad1,Bad Co,gold,\n"
        "good2,Good Two,standard,b@x.example;c@x.example\n"
        "bad2,,standard,\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as exc:
        intake.import_accounts(bad)
    assert exc.value.problems == [
        f"{bad}:3: plan: unknown plan 'gold'; use standard, business, enterprise, premium",
        f"{bad}:5: name: is required",
    ]
    assert [a["id"] for a in intake.list_accounts()] == ["acme"]
    good = tmp_path / "ok.csv"
    good.write_text(
        "id,name,plan,emails\ngood,Good Co,business,a@good.example\n"
        "acme,Acme Renamed,enterprise,\n",
        encoding="utf-8",
    )
    assert intake.import_accounts(good) == (1, 1)
    assert intake.get_account("acme")["name"] == "Acme Renamed"


def test_import_toml_reports_line_numbers(intake: Intake, tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[accounts.one]\nname = "One"\nplan = "business"\n\n'
        '[accounts.two]\nname = "Two"\nplan = "business"\ncalendar = "mars"\n',
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as exc:
        intake.import_accounts(path)
    assert len(exc.value.problems) == 1
    assert exc.value.problems[0].startswith(f"{path}:5: calendar: unknown calendar 'mars'")
    path.write_text('[accounts.one]\nname = "One"\nplan = "business"\n', encoding="utf-8")
    assert intake.import_accounts(path) == (1, 0)


# ----------------------------------------------------------------------------- incidents
def test_open_is_idempotent_and_conflicts_on_other_data(intake: Intake, changes: list[int]) -> None:
    view = _open(intake, opened_at=NOW)
    assert view["status"] == "open"
    assert len(changes) == 1
    again, created = intake.open_incident(
        IncidentInput("T-1", "acme", "medium", "Reports are slow", opened_at=NOW)
    )
    assert not created
    assert again["opened_at"] == view["opened_at"]
    assert len(changes) == 1
    with pytest.raises(ConflictError) as exc:
        intake.open_incident(IncidentInput("T-1", "acme", "high", "Reports are slow"))
    assert exc.value.field == "priority"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"account": "nobody"}, "account"),
        ({"priority": "urgent"}, "priority"),
        ({"opened_at": datetime(2026, 11, 25, 8, 0)}, "opened_at"),
        ({"opened_at": NOW + timedelta(hours=1)}, "opened_at"),
        ({"title": ""}, "title"),
        ({"external_id": "has space"}, "id"),
    ],
)
def test_open_rejects_bad_input(intake: Intake, fields: dict[str, object], field: str) -> None:
    data: dict[str, object] = {
        "external_id": "T-9",
        "account": "acme",
        "priority": "high",
        "title": "x",
    }
    data.update(fields)
    with pytest.raises(ValidationError) as exc:
        intake.open_incident(IncidentInput(**data))  # type: ignore[arg-type]
    assert exc.value.field == field
    assert intake.queue(None) == []


def _event_count(db: Database) -> int:
    with db.read_session() as s:
        return int(s.execute(select(func.count()).select_from(IncidentEventRow)).scalar_one())


def test_event_rules_reject_and_change_nothing(intake: Intake, db: Database, clock: Clock) -> None:
    _open(intake, opened_at=NOW - timedelta(hours=2))
    at = NOW - timedelta(hours=1)
    intake.record_event("T-1", EventInput("paused", at=at))
    cases = [
        (EventInput("paused", at=NOW), "type"),  # pausing a paused incident
        (EventInput("responded", at=NOW - timedelta(hours=3)), "at"),  # before the opening
        (EventInput("responded", at=NOW + timedelta(minutes=10)), "at"),  # in the future
        (EventInput("responded", at=datetime(2026, 11, 25, 9)), "at"),  # naive
        (EventInput("escalated"), "type"),
        (EventInput("priority_changed"), "priority"),
        (EventInput("priority_changed", priority="urgent"), "priority"),
    ]
    for event, field in cases:
        with pytest.raises(ValidationError) as exc:
            intake.record_event("T-1", event)
        assert exc.value.field == field, event
    assert _event_count(db) == 1
    intake.record_event("T-1", EventInput("resolved", at=NOW - timedelta(minutes=30)))
    for event in (EventInput("resolved"), EventInput("responded")):
        with pytest.raises(ValidationError) as exc:
            intake.record_event("T-1", event)
        assert exc.value.field == "type"
    assert _event_count(db) == 2
    with pytest.raises(NotFoundError):
        intake.record_event("T-404", EventInput("responded"))


def test_repeated_event_is_idempotent(intake: Intake, db: Database, changes: list[int]) -> None:
    _open(intake, opened_at=NOW - timedelta(hours=1))
    at = NOW - timedelta(minutes=30)
    _, changed = intake.record_event("T-1", EventInput("responded", at=at, by="bob"))
    _, again = intake.record_event("T-1", EventInput("responded", at=at, by="bob"))
    assert (changed, again) == (True, False)
    assert _event_count(db) == 1
    assert len(changes) == 2  # open + the first response only


def test_next_check_follows_the_clocks(intake: Intake, db: Database, clock: Clock) -> None:
    # Enterprise medium: response 1d, workaround 3d, resolution 60d (9h business days).
    view = _open(intake, opened_at=NOW)
    response_due = view["clocks"][0]["due_at"]  # type: ignore[index]
    assert response_due == "2026-11-26T08:00:00+00:00"  # next business day, same time
    assert view["next_check_at"] == response_due
    clock.now = NOW + timedelta(hours=1)
    view, _ = intake.record_event("T-1", EventInput("responded"))
    assert view["clocks"][0]["state"] == "met"
    assert view["next_check_at"] == view["clocks"][1]["due_at"]
    view, _ = intake.record_event("T-1", EventInput("paused"))
    assert view["paused"] is True
    assert view["next_check_at"] is None  # only paused clocks left
    view, _ = intake.record_event("T-1", EventInput("resumed"))
    assert view["next_check_at"] == view["clocks"][1]["due_at"]
    view, _ = intake.record_event("T-1", EventInput("resolved"))
    assert (view["status"], view["next_check_at"]) == ("resolved", None)
    view, _ = intake.record_event("T-1", EventInput("reopened"))
    assert view["status"] == "open"
    assert view["next_check_at"] == view["clocks"][2]["due_at"]


def test_priority_change_and_ack(intake: Intake) -> None:
    _open(intake, opened_at=NOW - timedelta(hours=1))
    view, _ = intake.record_event("T-1", EventInput("priority_changed", priority="high"))
    assert view["priority"] == "high"
    view, _ = intake.record_event("T-1", EventInput("acknowledged", by="carol"))
    assert (view["acknowledged_by"], view["acknowledged_at"]) == ("carol", NOW.isoformat())
    assert [e["type"] for e in view["events"]] == ["priority_changed", "acknowledged"]  # type: ignore[index]


def test_queue_order(intake: Intake) -> None:
    intake.add_account("small", {"name": "Small", "plan": "standard"})
    intake.add_account("vip", {"name": "VIP", "plan": "premium"})
    _open(intake, "std-high", account="small", priority="high", opened_at=NOW)
    _open(intake, "ent-low", priority="low", opened_at=NOW)
    _open(intake, "ent-med-late", priority="medium", opened_at=NOW)
    _open(intake, "ent-med-early", priority="medium", opened_at=NOW - timedelta(hours=3))
    _open(intake, "vip-cosmetic", account="vip", priority="cosmetic", opened_at=NOW)
    order = [v["id"] for v in intake.queue()]
    assert order == ["vip-cosmetic", "ent-med-early", "ent-med-late", "ent-low", "std-high"]
    intake.record_event("ent-low", EventInput("resolved"))
    assert "ent-low" not in [v["id"] for v in intake.queue()]
    assert [v["id"] for v in intake.queue("resolved")] == ["ent-low"]


def _service_order(view: dict[str, object]) -> tuple[object, ...]:
    """The queue's order by its definition, from a view's clocks computed now: higher plan
    rank, higher priority, earliest due (none last), opened first, then the id."""
    due = view["due_at"]
    return (
        -int(view["plan_rank"]),  # type: ignore[call-overload]
        PRIORITIES.index(str(view["priority"])),
        due is None,
        datetime.fromisoformat(str(due)) if due is not None else NOW,
        datetime.fromisoformat(str(view["opened_at"])),
        view["id"],
    )


def _mixed_queue(intake: Intake, clock: Clock) -> None:
    """Incidents on three plans, every priority, opened over two days, some answered, paused,
    breached or resolved; the clock then moves on so some clocks are breached now."""
    intake.add_account("small", {"name": "Small", "plan": "standard"})
    intake.add_account("vip", {"name": "VIP", "plan": "premium"})
    for n in range(24):
        key = f"Q-{n:02d}" if n % 5 else f"q-{n:02d}"  # mixed case: the id order is codepoints
        clock.now = NOW - timedelta(hours=2 * n)
        _open(
            intake,
            key,
            account=("acme", "small", "vip")[n % 3],
            priority=PRIORITIES[n % 4],
            opened_at=clock.now - timedelta(hours=n % 2),
        )
        if n % 4 == 1:
            intake.record_event(key, EventInput("responded"))
        if n % 6 == 2:
            intake.record_event(key, EventInput("paused"))
        if n % 7 == 3:
            intake.record_event(key, EventInput("resolved"))
    clock.now = NOW + timedelta(hours=5)


@pytest.mark.parametrize("state", ["open", "resolved", None])
def test_queue_is_in_service_order_of_the_clocks_now(
    intake: Intake, clock: Clock, state: str | None
) -> None:
    """The queue is sorted in the database from the stored columns: the order must be the
    one the clocks give now (plan rank, priority, due, opened, id)."""
    _mixed_queue(intake, clock)
    views = intake.queue(state)
    assert len(views) == {"open": 21, "resolved": 3, None: 24}[state]
    assert [v["id"] for v in views] == [v["id"] for v in sorted(views, key=_service_order)]
    assert state == "resolved" or len({v["plan"] for v in views}) == 3


def test_queue_pages_are_slices_of_the_queue(intake: Intake, clock: Clock) -> None:
    _mixed_queue(intake, clock)
    whole = [v["id"] for v in intake.queue(None)]
    pages = [
        [v["id"] for v in intake.queue(None, limit=5, offset=offset)] for offset in range(0, 30, 5)
    ]
    assert [key for page in pages for key in page] == whole
    assert [len(page) for page in pages] == [5, 5, 5, 5, 4, 0]
    assert [v["id"] for v in intake.queue("open", limit=3, offset=2)] == [
        v["id"] for v in intake.queue("open")
    ][2:5]


@pytest.mark.parametrize(
    ("limit", "offset", "field"), [(0, 0, "limit"), (10_001, 0, "limit"), (5, -1, "offset")]
)
def test_queue_rejects_a_bad_page(intake: Intake, limit: int, offset: int, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        intake.queue("open", limit=limit, offset=offset)
    assert caught.value.field == field


def test_due_incidents_for_the_daemon(
    intake: Intake, db: Database, sample_settings: Settings
) -> None:
    _open(intake, "a", opened_at=NOW)
    _open(intake, "b", priority="high", opened_at=NOW)
    with db.read_session() as s:
        assert repo.due_incident_ids(s, NOW) == []
        ids = repo.due_incident_ids(s, NOW + timedelta(days=3))
        assert len(ids) == 2
        loaded = repo.load_incidents(s, ids)
        assert [i.external_id for i in loaded] == ["b", "a"]  # earliest next_check first
        assert loaded[0].account.id == "acme"
        assert repo.open_incident_ids(s) == sorted(ids)
        assert repo.count_open_incidents(s) == 2
    with db.session() as s:
        repo.set_next_check(s, ids[0], None, NOW)
    with db.read_session() as s:
        assert repo.due_incident_ids(s, NOW + timedelta(days=3)) == [ids[1]]


def test_a_failing_hook_leaves_the_change_stored_and_due_now(
    db: Database, sample_settings: Settings, clock: Clock
) -> None:
    def broken(_incident_id: int) -> None:
        raise RuntimeError("policy bug")

    intake = Intake(db, sample_settings, clock=clock, on_change=broken)
    intake.add_account("acme", {"name": "Acme", "plan": "enterprise"})
    _, created = intake.open_incident(IncidentInput("T-1", "acme", "high", "Down"))
    assert created
    with db.read_session() as s:
        assert repo.due_incident_ids(s, NOW) == [repo.get_incident(s, "T-1").id]
