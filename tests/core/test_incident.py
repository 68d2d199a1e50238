"""Incident histories: which events are accepted, and what the replayed state is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slawatch.core.incident import (
    EventType,
    IncidentEvent,
    IncidentHistory,
    add_event,
    check_priority,
)
from slawatch.errors import ValidationError

OPENED = datetime(2026, 11, 30, 8, tzinfo=UTC)
NOW = datetime(2026, 12, 10, 8, tzinfo=UTC)
H = timedelta(hours=1)


def at(hours: float) -> datetime:
    return OPENED + timedelta(hours=hours)


def build(*events: tuple[EventType, float]) -> IncidentHistory:
    hist = IncidentHistory(opened_at=OPENED, priority="medium")
    for kind, hours in events:
        hist, changed = add_event(hist, IncidentEvent(kind, at(hours)), NOW)
        assert changed
    return hist


def rejected(hist: IncidentHistory, event: IncidentEvent, field: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match) as info:
        add_event(hist, event, NOW)
    assert info.value.field == field


class TestAddEvent:
    def test_state_after_a_full_life(self) -> None:
        hist = build(
            (EventType.RESPONDED, 1),
            (EventType.RESPONDED, 2),
            (EventType.PAUSED, 3),
            (EventType.RESUMED, 4),
            (EventType.WORKAROUND, 5),
            (EventType.RESOLVED, 6),
        )
        state = hist.state()
        assert state.responded_at == at(1)  # the first response counts
        assert state.workaround_at == at(5)
        assert state.resolved and state.resolved_at == at(6)
        assert not state.paused and not state.is_open
        reopened, _ = add_event(hist, IncidentEvent(EventType.REOPENED, at(7)), NOW)
        assert reopened.state().is_open
        assert reopened.state().resolved_at is None
        assert hist.state(now=at(3.5)).paused  # replay up to an instant

    def test_repeat_is_idempotent(self) -> None:
        hist = build((EventType.RESPONDED, 1))
        again, changed = add_event(hist, IncidentEvent(EventType.RESPONDED, at(1)), NOW)
        assert not changed
        assert again is hist

    def test_backdated_event_is_inserted_in_time_order(self) -> None:
        hist = build((EventType.RESPONDED, 5))
        hist, changed = add_event(hist, IncidentEvent(EventType.PAUSED, at(2)), NOW)
        assert changed
        assert [e.type for e in hist.events] == [EventType.PAUSED, EventType.RESPONDED]

    def test_backdated_event_that_breaks_the_history_is_refused(self) -> None:
        hist = build((EventType.PAUSED, 1), (EventType.RESUMED, 3))
        # A second pause at 2 h would be a pause while paused.
        rejected(hist, IncidentEvent(EventType.PAUSED, at(2)), "type", "already paused")

    def test_naive_time(self) -> None:
        hist = build()
        naive = IncidentEvent(EventType.RESPONDED, datetime(2026, 12, 1, 9))
        rejected(hist, naive, "at", "time zone")

    def test_before_opening_and_in_the_future(self) -> None:
        hist = build()
        rejected(hist, IncidentEvent(EventType.RESPONDED, at(-1)), "at", "before the incident")
        rejected(
            hist,
            IncidentEvent(EventType.RESPONDED, NOW + timedelta(minutes=3)),
            "at",
            "in the future",
        )
        # Within the default 2 min clock skew it is accepted.
        _, changed = add_event(
            hist, IncidentEvent(EventType.RESPONDED, NOW + timedelta(minutes=2)), NOW
        )
        assert changed

    @pytest.mark.parametrize(
        ("events", "event", "match"),
        [
            (((EventType.RESOLVED, 1),), EventType.RESPONDED, "after the incident was resolved"),
            (((EventType.RESOLVED, 1),), EventType.WORKAROUND, "resolved incident"),
            (((EventType.RESOLVED, 1),), EventType.RESOLVED, "already resolved"),
            (((EventType.RESOLVED, 1),), EventType.PAUSED, "cannot be paused"),
            ((), EventType.REOPENED, "only a resolved incident"),
            ((), EventType.RESUMED, "not paused"),
            (((EventType.PAUSED, 1),), EventType.PAUSED, "already paused"),
        ],
    )
    def test_invalid_transitions(
        self, events: tuple[tuple[EventType, float], ...], event: EventType, match: str
    ) -> None:
        rejected(build(*events), IncidentEvent(event, at(2)), "type", match)


class TestPriority:
    def test_change_applies_to_the_whole_history(self) -> None:
        hist = build()
        change = IncidentEvent(EventType.PRIORITY_CHANGED, at(3), priority="1")
        hist, _ = add_event(hist, change, NOW)
        assert hist.events[0].priority == "high"  # "1" is the reference's name for high
        assert hist.priority_at(at(2)) == "medium"
        assert hist.priority_at(at(3)) == "high"
        assert hist.priority_at(NOW) == "high"

    def test_change_needs_a_known_priority(self) -> None:
        hist = build()
        rejected(
            hist,
            IncidentEvent(EventType.PRIORITY_CHANGED, at(1), priority="urgent"),
            "priority",
            "unknown priority",
        )
        rejected(
            hist, IncidentEvent(EventType.PRIORITY_CHANGED, at(1)), "priority", "unknown priority"
        )

    @pytest.mark.parametrize(
        ("raw", "name"), [("High", "high"), ("2", "medium"), (" low ", "low"), ("4", "cosmetic")]
    )
    def test_check_priority(self, raw: str, name: str) -> None:
        assert check_priority(raw) == name


def test_acknowledgement_keeps_the_first() -> None:
    hist = IncidentHistory(opened_at=OPENED, priority="high")
    for hours, who in ((1, "ana"), (2, "bob")):
        hist, _ = add_event(hist, IncidentEvent(EventType.ACKNOWLEDGED, at(hours), by=who), NOW)
    state = hist.state()
    assert (state.acknowledged_at, state.acknowledged_by) == (at(1), "ana")
