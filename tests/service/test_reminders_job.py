"""The daily reminders job and the ledger on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from slawatch.config.loader import Settings, build_settings
from slawatch.errors import ConflictError, ValidationError
from slawatch.service import entitlements as svc
from slawatch.service.reminders import run, run_daily_reminders
from slawatch.store.db import Database
from slawatch.store.models import Account, EntitlementUse, Notification, PlanChange

CONFIG: dict[str, Any] = {
    "people": {
        "maria": {"name": "Maria", "email": "maria@example.com", "slack": "U1"},
        "lead": {"name": "Lead", "email": "lead@example.com"},
    },
    "roles": {"support_lead": "lead"},
}


@pytest.fixture
def settings() -> Settings:
    return build_settings(CONFIG, None)


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def add_account(
    db: Database,
    account_id: str,
    plan: str,
    start: date,
    *,
    csm: str | None = "maria",
    cadence: str | None = None,
    changes: list[tuple[date, str]] | None = None,
) -> None:
    created = at(start, 0)
    with db.session() as s:
        s.add(
            Account(
                id=account_id,
                name=account_id.title(),
                plan=changes[-1][1] if changes else plan,
                csm=csm,
                contract_start=start,
                emails=[],
                phones=[],
                sla_overrides={},
                meeting_cadence=cadence,
                active=True,
                created_at=created,
                updated_at=created,
            )
        )
        s.flush()
        s.add(PlanChange(account_id=account_id, plan=plan, effective_at=created))
        for day, name in changes or []:
            s.add(PlanChange(account_id=account_id, plan=name, effective_at=at(day, 0)))


def outbox_rows(db: Database) -> list[Notification]:
    with db.read_session() as s:
        return list(s.execute(select(Notification).order_by(Notification.id)).scalars())


def daily(db: Database, settings: Settings, day: date) -> int:
    with db.session() as s:
        return run_daily_reminders(s, settings, at(day))


def test_second_run_enqueues_nothing(db: Database, settings: Settings) -> None:
    add_account(db, "acme", "enterprise", date(2025, 8, 31))
    day = date(2025, 11, 16)  # 14 days before 30 Nov
    assert daily(db, settings, day) == 1
    assert daily(db, settings, day) == 0
    # a "restart": a fresh Database object on the same store still enqueues nothing
    again = Database(db.engine.url.render_as_string(hide_password=False))
    try:
        assert daily(again, settings, day) == 0
    finally:
        again.dispose()
    [row] = outbox_rows(db)
    assert (row.kind, row.stage, row.recipient, row.channel, row.step) == (
        "reminder",
        "meeting_reminder",
        "maria",
        "slack",
        "14d",
    )
    assert row.account_id == "acme" and row.status == "pending"
    assert row.payload["meeting"]["due_on"] == "2025-11-30"
    assert row.payload["meeting"]["cadence"] == "quarterly"


def test_every_day_of_a_quarter_sends_each_reminder_exactly_once(
    db: Database, settings: Settings
) -> None:
    add_account(db, "acme", "enterprise", date(2025, 8, 31))
    day = date(2025, 11, 1)
    while day <= date(2025, 12, 31):
        daily(db, settings, day)
        day += timedelta(days=1)
    rows = outbox_rows(db)
    got = [(r.stage, r.step, r.repetition, r.recipient, r.created_at.date()) for r in rows]
    assert got == [
        ("meeting_reminder", "14d", 0, "maria", date(2025, 11, 16)),
        ("meeting_reminder", "3d", 0, "maria", date(2025, 11, 27)),
        ("meeting_overdue", "overdue", 0, "maria", date(2025, 12, 8)),
        ("meeting_overdue", "overdue", 0, "lead", date(2025, 12, 8)),
        ("meeting_overdue", "overdue", 1, "maria", date(2025, 12, 15)),
        ("meeting_overdue", "overdue", 1, "lead", date(2025, 12, 15)),
        ("meeting_overdue", "overdue", 2, "maria", date(2025, 12, 22)),
        ("meeting_overdue", "overdue", 2, "lead", date(2025, 12, 22)),
        ("meeting_overdue", "overdue", 3, "maria", date(2025, 12, 29)),
        ("meeting_overdue", "overdue", 3, "lead", date(2025, 12, 29)),
    ]
    assert len({r.dedupe_key for r in rows}) == len(rows)
    # recording a meeting stops the weekly overdue notices
    with db.session() as s:
        svc.record_meeting(s, settings, "acme", date(2026, 1, 2), "late", at(date(2026, 1, 2)))
    for offset in range(14):
        assert daily(db, settings, date(2026, 1, 3) + timedelta(days=offset)) == 0


def test_plan_without_csm_reminds_the_lead_by_email(db: Database, settings: Settings) -> None:
    add_account(db, "smallco", "business", date(2026, 1, 15), csm=None)
    assert daily(db, settings, date(2026, 7, 12)) == 1
    [row] = outbox_rows(db)
    assert (row.recipient, row.channel, row.step) == ("lead", "email", "3d")


def test_plan_change_replans_future_meetings(db: Database, settings: Settings) -> None:
    add_account(
        db, "grow", "business", date(2026, 1, 15), changes=[(date(2026, 9, 10), "enterprise")]
    )
    with db.read_session() as s:
        account = s.get(Account, "grow")
        assert account is not None
        view = svc.account_meetings(s, settings, account, at(date(2026, 11, 1)))
    assert [p.due for p in view.periods[:3]] == [
        date(2026, 7, 15),
        date(2026, 12, 10),
        date(2027, 3, 10),
    ]
    assert view.cadence == "quarterly"


def test_account_cadence_override(db: Database, settings: Settings) -> None:
    add_account(db, "chatty", "business", date(2026, 1, 31), cadence="monthly")
    with db.read_session() as s:
        account = s.get(Account, "chatty")
        assert account is not None
        view = svc.account_meetings(s, settings, account, at(date(2026, 1, 31)))
    assert [p.due for p in view.periods[:3]] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]


def test_plan_config_override_of_cadence(db: Database) -> None:
    settings = build_settings(
        {**CONFIG, "plans": {"business": {"meeting_cadence": "annual"}}}, None
    )
    add_account(db, "slow", "business", date(2026, 1, 15))
    with db.read_session() as s:
        account = s.get(Account, "slow")
        assert account is not None
        view = svc.account_meetings(s, settings, account, at(date(2026, 2, 1)))
    assert view.periods[0].due == date(2027, 1, 15)


def test_future_meeting_is_refused(db: Database, settings: Settings) -> None:
    add_account(db, "acme", "enterprise", date(2025, 8, 31))
    with pytest.raises(ValidationError) as err, db.session() as s:
        svc.record_meeting(s, settings, "acme", date(2026, 3, 1), None, at(date(2026, 1, 1)))
    assert err.value.field == "date"


def count_uses(db: Database) -> int:
    with db.read_session() as s:
        return int(s.execute(select(func.count()).select_from(EntitlementUse)).scalar_one())


def test_ledger_limit_overage_and_anniversary_reset(db: Database, settings: Settings) -> None:
    add_account(db, "acme", "enterprise", date(2025, 3, 10))
    now = at(date(2026, 1, 5))
    with db.session() as s:
        first = svc.use_entitlement(s, settings, "acme", "restore", now, note="board wiped")
        assert (first.balance.used, first.balance.remaining, first.notified) == (1, 1, 0)
    with db.session() as s:
        second = svc.use_entitlement(s, settings, "acme", "restore", now)
        assert (second.balance.remaining, second.notified) == (0, 1)  # CSM told: used up
    with pytest.raises(ConflictError) as err, db.session() as s:
        svc.use_entitlement(s, settings, "acme", "restore", now)
    assert err.value.field == "restore" and "--force" in str(err.value)
    assert count_uses(db) == 2  # the refusal stored nothing
    with db.session() as s:
        forced = svc.use_entitlement(s, settings, "acme", "restore", now, force=True)
        assert forced.overage and forced.balance.overage == 1 and forced.notified == 0
    notices = [r for r in outbox_rows(db) if r.stage == "entitlement_exhausted"]
    assert [(n.recipient, n.channel, n.kind) for n in notices] == [
        ("maria", "slack", "entitlement")
    ]
    assert notices[0].payload["entitlement"]["kind"] == "restore"
    # the daily job re-derives the same notice: nothing new
    daily(db, settings, date(2026, 1, 6))
    assert len([r for r in outbox_rows(db) if r.stage == "entitlement_exhausted"]) == 1
    # the contract anniversary resets the allowance
    with db.session() as s:
        account = s.get(Account, "acme")
        assert account is not None
        year, balance = svc.entitlement_balances(s, settings, account, at(date(2026, 3, 10)))
        assert year.start == date(2026, 3, 10)
        assert (balance["restore"].used, balance["restore"].remaining) == (0, 2)
        later = svc.use_entitlement(s, settings, "acme", "restore", at(date(2026, 3, 10)))
        assert not later.overage


def test_unknown_kind_and_account(db: Database, settings: Settings) -> None:
    add_account(db, "acme", "enterprise", date(2025, 3, 10))
    with pytest.raises(ValidationError), db.session() as s:
        svc.use_entitlement(s, settings, "acme", "coffee", at(date(2026, 1, 1)))
    from slawatch.errors import NotFoundError

    with pytest.raises(NotFoundError), db.session() as s:
        svc.use_entitlement(s, settings, "nope", "report", at(date(2026, 1, 1)))


def test_workshops_behind_reminds_once(db: Database, settings: Settings) -> None:
    add_account(db, "acme", "enterprise", date(2026, 1, 1), cadence="none")
    with db.session() as s:
        svc.record_workshop(s, settings, "acme", date(2026, 2, 1), None, at(date(2026, 2, 1)))
    assert daily(db, settings, date(2026, 7, 1)) == 0
    with db.session() as s:
        result = run(s, settings, at(date(2026, 7, 2)))
    assert result.enqueued == 1
    assert {r.stage for r in result.decided} == {"workshops_behind"}
    rows = [r for r in outbox_rows(db) if r.stage == "workshops_behind"]
    assert [(r.recipient, r.payload["workshops"]["held"]) for r in rows] == [("maria", 1)]
    assert daily(db, settings, date(2026, 8, 1)) == 0


def test_concurrent_uses_cannot_overdraw_the_allowance(db: Database, settings: Settings) -> None:
    """Eight writers race for business's single custom report: exactly one wins."""
    import threading

    add_account(db, "race", "business", date(2025, 3, 10))
    now = at(date(2026, 1, 5))
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            with db.session() as s:
                svc.use_entitlement(s, settings, "race", "report", now)
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7
    assert count_uses(db) == 1


def test_today_is_the_accounts_local_date(db: Database) -> None:
    """At 03:00 UTC it is still the previous evening in New York: the 14-day reminder for a
    due date waits for the account's own date."""
    settings = build_settings(
        {
            **CONFIG,
            "calendars": {
                "ny": {
                    "timezone": "America/New_York",
                    "hours": {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
                }
            },
        },
        None,
    )
    add_account(db, "acme", "enterprise", date(2025, 8, 31))
    with db.session() as s:
        account = s.get(Account, "acme")
        assert account is not None
        account.calendar = "ny"
    early = datetime(2025, 11, 16, 3, tzinfo=UTC)  # 15 Nov, 22:00 in New York
    with db.session() as s:
        assert run_daily_reminders(s, settings, early) == 0
    with db.session() as s:
        assert run_daily_reminders(s, settings, datetime(2025, 11, 16, 14, tzinfo=UTC)) == 1


def test_no_lead_configured_falls_back_to_the_team_channel(db: Database) -> None:
    settings = build_settings({"roles": {"team_channel": "#support"}}, None)
    add_account(db, "smallco", "business", date(2026, 1, 15), csm=None)
    assert daily(db, settings, date(2026, 7, 12)) == 1
    [row] = outbox_rows(db)
    assert (row.recipient, row.channel) == ("#support", "slack")


def test_recheck_drops_reminders_that_no_longer_apply(db: Database, settings: Settings) -> None:
    from slawatch.service.reminders import reminder_still_applies

    add_account(db, "acme", "enterprise", date(2025, 8, 31))
    daily(db, settings, date(2025, 11, 16))
    [row] = outbox_rows(db)
    now = at(date(2025, 11, 17))

    def check() -> tuple[bool, str]:
        with db.read_session() as s:
            return reminder_still_applies(
                s,
                settings,
                stage=row.stage,
                account_id=row.account_id,
                payload=row.payload,
                now=now,
            )

    assert check() == (True, "")
    with db.session() as s:
        svc.record_meeting(s, settings, "acme", date(2025, 11, 17), None, now)
    applies, reason = check()
    assert not applies and "2025-11-17 satisfies the one due 2025-11-30" in reason
    with db.session() as s:
        account = s.get(Account, "acme")
        assert account is not None
        account.active = False
    assert check() == (False, "account acme is inactive")


def test_recheck_after_a_plan_change_replanned_the_meeting(
    db: Database, settings: Settings
) -> None:
    from slawatch.service.reminders import reminder_still_applies

    add_account(db, "grow", "business", date(2026, 1, 15))
    daily(db, settings, date(2026, 7, 1))  # 14 days before 15 Jul
    [row] = outbox_rows(db)
    with db.session() as s:
        s.add(PlanChange(account_id="grow", plan="enterprise", effective_at=at(date(2026, 7, 2))))
    with db.read_session() as s:
        applies, reason = reminder_still_applies(
            s,
            settings,
            stage=row.stage,
            account_id="grow",
            payload=row.payload,
            now=at(date(2026, 7, 3)),
        )
    assert not applies and "re-planned" in reason
