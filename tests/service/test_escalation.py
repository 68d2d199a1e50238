"""service.escalation on a real SQLite database with a given ``now``.

An incident opened through intake is evaluated at chosen instants: the outbox rows, their
statuses and the stored ``next_check_at`` are what the daemon's scan would leave behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from daemon_env import ACME, load_settings
from slawatch.config.loader import Settings
from slawatch.config.policy_context import policy_context
from slawatch.core.delivery import severity
from slawatch.service.escalation import evaluate_all, evaluate_due, evaluate_incidents
from slawatch.service.incidents import EventInput, IncidentInput
from slawatch.service.intake import Intake
from slawatch.store import repo
from slawatch.store.db import Database
from slawatch.store.models import Notification
from stored import stored_incident

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(tmp_path / "slawatch.toml")


@pytest.fixture
def sqlite_db(_sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "slawatch.db"
    shutil.copyfile(_sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


def open_incident(
    db: Database, settings: Settings, key: str, priority: str = "medium", hotline: bool = False
) -> int:
    """Open an incident at T0 through intake (no policy hook: the tests evaluate by hand)."""
    intake = Intake(db, settings, clock=lambda: T0)
    intake.put_account("acme", ACME)
    intake.open_incident(
        IncidentInput(
            external_id=key,
            account="acme",
            priority=priority,
            title="Reports time out",
            opened_at=T0,
            via_hotline=hotline,
        )
    )
    return intake.incident_id(key)


def evaluate(db: Database, settings: Settings, incident_id: int, now: datetime) -> int:
    """Evaluate one incident at ``now`` like the scan does; return how many rows were enqueued."""
    with db.session() as session:
        incidents = repo.load_incidents(session, [incident_id])
        summary = evaluate_incidents(session, incidents, settings, policy_context(settings), now)
    return summary.enqueued


def rows(db: Database) -> list[Notification]:
    with db.read_session() as session:
        found = list(session.execute(select(Notification).order_by(Notification.id)).scalars())
        session.expunge_all()
    return found


def test_a_threshold_is_enqueued_once_and_the_next_check_is_stored(
    sqlite_db: Database, settings: Settings
) -> None:
    incident_id = open_incident(sqlite_db, settings, "INC-1")  # medium: response 10m
    assert evaluate(sqlite_db, settings, incident_id, T0 + timedelta(minutes=1)) == 0
    assert stored_incident(sqlite_db, incident_id).next_check_at == T0 + timedelta(minutes=5)

    now = T0 + timedelta(minutes=5, seconds=3)
    assert evaluate(sqlite_db, settings, incident_id, now) == 1
    (row,) = rows(sqlite_db)
    assert (row.status, row.stage, row.step, row.recipient, row.channel) == (
        "pending",
        "warning",
        "team-50",
        "#support",
        "slack",
    )
    assert row.target == "response"
    assert row.next_attempt_at == T0 + timedelta(minutes=5)  # the threshold instant
    assert row.dedupe_key == f"{incident_id}|response|team-50|0|#support|slack"
    # The payload holds what the columns do not (the dispatcher reads the rest from them).
    assert row.payload == {
        "reason": row.payload["reason"],  # below
        "at": (T0 + timedelta(minutes=5)).isoformat(),
        "severity": severity("warning", 50),
        "incident_external_id": "INC-1",
    }
    assert row.payload["reason"] == (  # what the templates show
        "50% of the response target used, due 2026-11-23T10:10:00+00:00"
        " (rule team-50: 50% -> team by slack)"
    )
    stored = stored_incident(sqlite_db, incident_id)
    assert stored.next_check_at == T0 + timedelta(minutes=7, seconds=30)  # 75%
    assert stored.last_evaluated_at == now

    # Dedupe: the same decision again (the next tick, or a second scan) enqueues nothing.
    assert evaluate(sqlite_db, settings, incident_id, now) == 0
    assert evaluate(sqlite_db, settings, incident_id, now + timedelta(seconds=30)) == 0
    assert len(rows(sqlite_db)) == 1


def test_every_level_fires_in_order_when_scanned_on_time(
    sqlite_db: Database, settings: Settings
) -> None:
    incident_id = open_incident(sqlite_db, settings, "INC-2")
    for minutes in (5, 7.5, 9, 10):
        evaluate(sqlite_db, settings, incident_id, T0 + timedelta(minutes=minutes, seconds=1))
    sent = [(r.step, r.recipient, r.channel, r.stage) for r in rows(sqlite_db)]
    assert sent == [
        ("team-50", "#support", "slack", "warning"),
        ("csm-75", "maria", "slack", "warning"),  # premium has a CSM
        ("lead-90", "lead", "email", "warning"),
        ("lead-90", "lead", "slack", "warning"),  # lead has no slack id: by email lookup
        ("breach-team", "#support", "slack", "breach"),
        ("breach-manager", "manager", "email", "breach"),
        ("breach-csm", "maria", "slack", "breach"),
    ]
    assert all(r.status == "pending" for r in rows(sqlite_db))
    # After the breach, the next check is the first daily repeat (24x7: one day = 24h).
    assert stored_incident(sqlite_db, incident_id).next_check_at == T0 + timedelta(
        minutes=10, days=1
    )


def test_catch_up_after_downtime_enqueues_one_level_and_drops_the_rest(
    sqlite_db: Database, settings: Settings
) -> None:
    incident_id = open_incident(sqlite_db, settings, "INC-3")
    # The daemon was down from T0 until 40 minutes later: 50%, 75%, 90% and the breach passed.
    now = T0 + timedelta(minutes=40)
    enqueued = evaluate(sqlite_db, settings, incident_id, now)
    pending = [r for r in rows(sqlite_db) if r.status == "pending"]
    dropped = [r for r in rows(sqlite_db) if r.status == "dropped"]
    assert enqueued == len(pending) == 3
    # Exactly one level: the breach (team, manager, CSM), as stage "catchup" covering "breach".
    assert {(r.step, r.recipient, r.channel) for r in pending} == {
        ("breach-team", "#support", "slack"),
        ("breach-manager", "manager", "email"),
        ("breach-csm", "maria", "slack"),
    }
    assert {r.stage for r in pending} == {"catchup"}
    assert {r.payload["covers"] for r in pending} == {"breach"}
    assert {r.step for r in dropped} == {"team-50", "csm-75", "lead-90"}
    assert len(dropped) == 4  # lead-90 by email and by Slack
    assert all(r.drop_reason.startswith("superseded by catch-up") for r in dropped)
    assert sorted(pending[0].payload["missed"]) == [
        "response:csm-75#0",
        "response:lead-90#0",
        "response:team-50#0",
    ]
    # Nothing is back-filled afterwards, and the next check is the first repeat.
    assert evaluate(sqlite_db, settings, incident_id, now + timedelta(minutes=1)) == 0
    assert len(rows(sqlite_db)) == 7
    assert stored_incident(sqlite_db, incident_id).next_check_at == T0 + timedelta(
        minutes=10, days=1
    )


def test_missed_repeats_are_not_back_filled(sqlite_db: Database, settings: Settings) -> None:
    incident_id = open_incident(sqlite_db, settings, "INC-4")
    for minutes in (5, 7.5, 9, 10):
        evaluate(sqlite_db, settings, incident_id, T0 + timedelta(minutes=minutes, seconds=1))
    before = len(rows(sqlite_db))
    # Down for three days: repeats 1, 2 and 3 passed; only the latest (3) is decided.
    now = T0 + timedelta(days=3, minutes=11)
    evaluate(sqlite_db, settings, incident_id, now)
    new = rows(sqlite_db)[before:]
    assert {(r.step, r.repetition) for r in new} == {
        ("breach-team", 3),
        ("breach-manager", 3),
        ("breach-csm", 3),
    }
    assert {r.stage for r in new} == {"overdue"}
    assert all(r.status == "pending" for r in new)


def test_hotline_page_is_enqueued_at_once_and_stops_after_ack(
    sqlite_db: Database, settings: Settings
) -> None:
    incident_id = open_incident(sqlite_db, settings, "HOT-1", priority="high", hotline=True)
    assert evaluate(sqlite_db, settings, incident_id, T0) == 1
    (page,) = rows(sqlite_db)
    assert (page.kind, page.stage, page.recipient, page.channel, page.urgent) == (
        "page",
        "page",
        "ivan",
        "sms",
        True,
    )
    assert stored_incident(sqlite_db, incident_id).next_check_at == T0 + timedelta(minutes=5)
    assert evaluate(sqlite_db, settings, incident_id, T0 + timedelta(minutes=5)) == 1  # repeat

    intake = Intake(sqlite_db, settings, clock=lambda: T0 + timedelta(minutes=6))
    intake.record_event("HOT-1", EventInput(type="acknowledged", by="ivan"))
    evaluate(sqlite_db, settings, incident_id, T0 + timedelta(minutes=10, seconds=1))
    # No more pages; the SLA clocks still escalate to the team (acknowledging is not
    # responding), so something was evaluated.
    assert [r.step for r in rows(sqlite_db) if r.kind == "page"] == ["page:primary"] * 2
    assert {r.step for r in rows(sqlite_db) if r.kind != "page"} == {"team-50"}


def test_resolved_incident_is_evaluated_to_nothing(sqlite_db: Database, settings: Settings) -> None:
    incident_id = open_incident(sqlite_db, settings, "INC-5")
    intake = Intake(sqlite_db, settings, clock=lambda: T0 + timedelta(minutes=2))
    intake.record_event("INC-5", EventInput(type="resolved"))
    assert evaluate(sqlite_db, settings, incident_id, T0 + timedelta(minutes=30)) == 0
    assert rows(sqlite_db) == []
    assert stored_incident(sqlite_db, incident_id).next_check_at is None


def test_scan_batches_take_only_due_incidents(sqlite_db: Database, settings: Settings) -> None:
    early = open_incident(sqlite_db, settings, "INC-6")  # medium: 50% at +5m
    late = open_incident(sqlite_db, settings, "INC-7", priority="low")  # 30m: 50% at +15m
    ctx = policy_context(settings)
    now = T0 + timedelta(minutes=1)
    with sqlite_db.consecutive_sessions() as transactions:  # the full recompute at start
        summary = evaluate_all(transactions, settings, ctx, now, limit=10)
    assert summary.evaluated == 2
    assert stored_incident(sqlite_db, late).last_evaluated_at == now
    with sqlite_db.session() as session:
        summary = evaluate_due(session, settings, ctx, T0 + timedelta(minutes=6))
    assert (summary.evaluated, summary.enqueued) == (1, 1)
    assert [r.incident_id for r in rows(sqlite_db)] == [early]
    with sqlite_db.session() as session:
        assert evaluate_due(session, settings, ctx, T0 + timedelta(minutes=6)).evaluated == 0


def test_one_broken_incident_does_not_stop_the_scan(
    sqlite_db: Database, settings: Settings
) -> None:
    broken = open_incident(sqlite_db, settings, "INC-8")
    healthy = open_incident(sqlite_db, settings, "INC-9")
    # A row this version cannot read (say, written by a newer slawatch): evaluating it raises.
    with sqlite_db.session() as session:
        session.execute(
            text(
                "INSERT INTO incident_events (incident_id, type, at, recorded_at)"
                " VALUES (:id, 'teleported', :at, :at)"
            ),
            {"id": broken, "at": T0.replace(tzinfo=None) + timedelta(minutes=1)},
        )
    ctx = policy_context(settings)
    with sqlite_db.consecutive_sessions() as transactions:  # the full recompute at start
        summary = evaluate_all(transactions, settings, ctx, T0 + timedelta(minutes=1), limit=10)
    assert summary.evaluated == 2 and [i for i, _ in summary.failed] == [broken]
    now = T0 + timedelta(minutes=6)
    with sqlite_db.session() as session:
        summary = evaluate_due(session, settings, ctx, now)
    # The healthy incident escalated; the broken one is reported and looked at again later
    # instead of blocking the head of the queue on every tick.
    assert [r.incident_id for r in rows(sqlite_db)] == [healthy]
    assert [incident_id for incident_id, _ in summary.failed] == [broken]
    assert "teleported" in summary.failed[0][1]
    stored = stored_incident(sqlite_db, broken)
    assert stored.next_check_at is not None and stored.next_check_at > now
    with sqlite_db.session() as session:
        assert evaluate_due(session, settings, ctx, now + timedelta(seconds=30)).evaluated == 0
    # The API/CLI path (ORM objects) does the same.
    with sqlite_db.session() as session:
        incidents = repo.load_incidents(session, [broken])
        summary = evaluate_incidents(session, incidents, settings, ctx, now)
    assert [incident_id for incident_id, _ in summary.failed] == [broken]


def test_housekeeping_never_makes_an_open_incident_say_it_again(
    sqlite_db: Database, settings: Settings
) -> None:
    """An incident open for longer than ``keep_sent_days``: purging its old sent rows would
    make the next evaluation decide those thresholds again (as a catch-up message)."""
    from slawatch.store import outbox

    incident_id = open_incident(sqlite_db, settings, "INC-LONG")
    for minutes in (5, 7.5, 9, 10):
        evaluate(sqlite_db, settings, incident_id, T0 + timedelta(minutes=minutes, seconds=1))
    before = {r.dedupe_key for r in rows(sqlite_db)}
    assert len(before) >= 4
    with sqlite_db.session() as session:
        session.execute(text("UPDATE notifications SET status = 'sent'"))
    # 200 days on, with keep_sent_days = 90: every row is old enough to be forgotten.
    later = T0 + timedelta(days=200)
    with sqlite_db.session() as session:
        outbox.purge_sent_before(session, later - timedelta(days=90))
    assert {r.dedupe_key for r in rows(sqlite_db)} == before
    # Only the latest daily repeat of the breach is new; nothing already told comes back.
    evaluate(sqlite_db, settings, incident_id, later)
    new = [r for r in rows(sqlite_db) if r.dedupe_key not in before]
    assert new and {r.stage for r in new} == {"overdue"}


def test_the_batch_memo_of_iso_texts_tells_zones_apart() -> None:
    """The rows of a batch share formatted instants; two equal instants in different zones
    (incidents shown in their own time zones) still keep their own text."""
    from datetime import timezone

    from slawatch.service.escalation import _memo

    iso = _memo(datetime.isoformat, by=lambda value: (value, value.tzinfo))
    utc = T0
    sofia = T0.astimezone(timezone(timedelta(hours=2)))
    assert utc == sofia
    assert iso(utc) == "2026-11-23T10:00:00+00:00"
    assert iso(sofia) == "2026-11-23T12:00:00+02:00"
    assert iso(utc) == "2026-11-23T10:00:00+00:00"
    plain = _memo(datetime.isoformat)  # by the value alone: the first zone's text wins
    assert plain(utc) == plain(sofia) == "2026-11-23T10:00:00+00:00"
