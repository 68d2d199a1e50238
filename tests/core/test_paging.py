"""Hotline paging: primary at once, repeats, secondary after the ack window, manager after 2x."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from slawatch.core.delivery import Notice
from slawatch.core.incident import EventType, IncidentEvent, IncidentHistory
from slawatch.core.paging import pages, paging_applies
from slawatch.core.plans import BUILTIN_PLANS
from slawatch.core.policy import Override, Person, Rotation

T0 = datetime(2026, 11, 4, 3, 17, tzinfo=UTC)  # a Wednesday night: paging ignores hours
PEOPLE = {
    "ivan": Person(phone="+359881000002"),
    "maria": Person(phone="+359881000001"),
    "manager": Person(phone="+359881000009"),
    "nophone": Person(email="x@example.com"),
}
ROTATION = Rotation(people=("ivan", "maria"), timezone="Europe/Sofia")
ENTERPRISE = BUILTIN_PLANS["enterprise"]


def history(
    *events: IncidentEvent, priority: str = "high", hotline: bool = True
) -> IncidentHistory:
    return IncidentHistory(opened_at=T0, priority=priority, events=events, via_hotline=hotline)


def page_at(
    h: IncidentHistory, now: datetime, sent: set[str] | None = None, **kw: object
) -> tuple[list[Notice], list[Notice], datetime | None]:
    args: dict[str, object] = {
        "oncall": ROTATION,
        "support_manager": "manager",
        "people": PEOPLE,
        "ack_within": timedelta(minutes=15),
        "page_repeat": timedelta(minutes=5),
        "sent_keys": sent or set(),
    }
    args.update(kw)
    result = pages("7", h, ENTERPRISE, now, **args)  # type: ignore[arg-type]
    return list(result.notices), list(result.skipped), result.next_at


def scan(h: IncidentHistory, minutes: int, **kw: object) -> list[tuple[int, str, str, int]]:
    """Every page a daemon scanning each 30 s would send in the first ``minutes``."""
    sent: set[str] = set()
    out = []
    for tick in range(minutes * 2 + 1):
        now = T0 + timedelta(seconds=30 * tick)
        notices, _, _ = page_at(h, now, sent, **kw)
        for n in notices:
            sent.add(n.dedupe_key)
            out.append((int((n.at - T0).total_seconds() // 60), n.step, n.recipient, n.repetition))
    return out


def test_primary_at_once_then_every_5m_secondary_at_15m_manager_at_30m() -> None:
    got = scan(history(), 31)
    assert got[0] == (0, "page:primary", "ivan", 0)
    primary = [m for m, step, _, _ in got if step == "page:primary"]
    secondary = [m for m, step, _, _ in got if step == "page:secondary"]
    manager = [m for m, step, _, _ in got if step == "page:manager"]
    assert primary == [0, 5, 10, 15, 20, 25, 30]
    assert secondary == [15, 20, 25, 30]
    assert manager == [30]
    assert {r for _, step, r, _ in got if step == "page:secondary"} == {"maria"}


def test_pages_are_urgent_sms_never_held() -> None:
    notices, _, next_at = page_at(history(), T0)
    (page,) = notices
    assert (page.channel, page.urgent, page.not_before, page.stage) == ("sms", True, None, "page")
    assert page.dedupe_key == "7|response|page:primary|0|ivan|sms"
    assert next_at == T0 + timedelta(minutes=5)


def test_acknowledged_responded_or_resolved_stops_paging() -> None:
    ack = IncidentEvent(EventType.ACKNOWLEDGED, T0 + timedelta(minutes=7), by="ivan")
    got = scan(history(ack), 40)
    assert [m for m, *_ in got] == [0, 5]
    for kind in (EventType.RESPONDED, EventType.RESOLVED):
        stop = IncidentEvent(kind, T0 + timedelta(minutes=12))
        assert [m for m, *_ in scan(history(stop), 40)] == [0, 5, 10]
    assert page_at(history(ack), T0 + timedelta(minutes=8))[2] is None


def test_only_high_priority_hotline_incidents_on_hotline_plans_are_paged() -> None:
    assert paging_applies(history(priority="medium"), ENTERPRISE, T0)[0] is False
    assert paging_applies(history(hotline=False), ENTERPRISE, T0)[0] is False
    ok, why = paging_applies(history(), BUILTIN_PLANS["standard"], T0)
    assert not ok and "no hotline" in why
    downgraded = IncidentEvent(
        EventType.PRIORITY_CHANGED, T0 + timedelta(minutes=3), priority="medium"
    )
    assert [m for m, *_ in scan(history(downgraded), 20)] == [0]


def test_after_downtime_only_the_latest_page_of_each_tier() -> None:
    sent: set[str] = set()
    first, _, _ = page_at(history(), T0, sent)
    sent |= {n.dedupe_key for n in first}
    now = T0 + timedelta(minutes=47)  # down from 0m to 47m
    notices, skipped, next_at = page_at(history(), now, sent)
    assert sorted(
        (n.step, n.repetition, int((n.at - T0).total_seconds() // 60)) for n in notices
    ) == [
        ("page:manager", 3, 45),
        ("page:primary", 9, 45),
        ("page:secondary", 6, 45),
    ]
    assert skipped == []
    assert next_at == T0 + timedelta(minutes=50)


def test_paging_follows_the_handoff_and_overrides() -> None:
    # 2026-11-09 is a Monday; the handoff at 09:00 Sofia (07:00 UTC) passes ivan -> maria
    opened = datetime(2026, 11, 9, 6, 55, tzinfo=UTC)
    h = IncidentHistory(opened_at=opened, priority="high", via_hotline=True)
    kw = {
        "oncall": ROTATION,
        "support_manager": "manager",
        "people": PEOPLE,
        "ack_within": timedelta(minutes=15),
        "page_repeat": timedelta(minutes=5),
    }
    first = pages("7", h, ENTERPRISE, opened, **kw).notices  # type: ignore[arg-type]
    later = pages("7", h, ENTERPRISE, opened + timedelta(minutes=5), **kw).notices  # type: ignore[arg-type]
    # shift 148 since the anchor week (even: ivan) ends at the handoff; 149 is maria's
    assert [n.recipient for n in first] == ["ivan"]
    assert [n.recipient for n in later] == ["maria"]
    over = Rotation(
        people=("ivan", "maria"),
        timezone="Europe/Sofia",
        overrides=(Override(date(2026, 11, 1), date(2026, 11, 30), "nophone"),),
    )
    kw["oncall"] = over
    result = pages("7", h, ENTERPRISE, opened, **kw)  # type: ignore[arg-type]
    assert result.notices == ()
    (problem,) = result.skipped
    assert problem.recipient == "nophone" and "no phone" in problem.reason


def test_no_rotation_is_reported_as_a_skipped_page() -> None:
    notices, skipped, _ = page_at(history(), T0, oncall=Rotation())
    assert notices == []
    assert [n.reason for n in skipped] == ["cannot page: no primary on-call configured"]


def test_until_bounds_the_series_for_simulations() -> None:
    notices, _, next_at = page_at(
        history(), T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=10)
    )
    assert [n.repetition for n in notices] == [2]
    assert next_at is None
