"""Delivery rules: dedupe keys, addresses, catch-up selection, re-check, backoff, rate limits."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from slawatch.core.delivery import (
    MAX_RETRY_AFTER,
    Notice,
    RateLimiter,
    Releasable,
    TokenBucket,
    address_for,
    collapse_released,
    dedupe_key,
    dispatch_order,
    next_attempt,
    retry_delay,
    select_catch_up,
    severity,
    still_applies,
)
from slawatch.core.incident import EventType, IncidentEvent, IncidentHistory
from slawatch.core.policy import Person

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def notice(step: str = "s", stage: str = "warning", minutes: float = 0, **kw: object) -> Notice:
    base = Notice(
        incident="1",
        target="response",
        stage=stage,
        step=step,
        repetition=0,
        recipient="#support",
        channel="slack",
        at=T0 + timedelta(minutes=minutes),
        reason="why",
        severity=severity(stage, 50),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ dedupe
def test_dedupe_key_has_every_part_and_cannot_be_confused() -> None:
    assert dedupe_key(12, "response", "breach-team", 3, "#support", "slack") == (
        "12|response|breach-team|3|#support|slack"
    )
    assert dedupe_key(1, None, "meeting", 0, "maria", "email") == "1|-|meeting|0|maria|email"
    # a '|' inside a part cannot shift the others
    assert dedupe_key(1, "t", "a|b", 0, "r", "c") != dedupe_key(1, "t", "a", 0, "b|r", "c")


def test_notice_key_ignores_stage_so_a_catch_up_takes_the_step_key() -> None:
    a = notice(stage="breach")
    assert a.dedupe_key == replace(a, stage="catchup", reason="other").dedupe_key
    assert a.dedupe_key != replace(a, repetition=1).dedupe_key
    assert a.dedupe_key != replace(a, channel="email").dedupe_key
    assert a.as_dict()["dedupe_key"] == a.dedupe_key


def test_address_for_people_channels_and_raw_addresses() -> None:
    people = {
        "maria": Person(email="m@example.com", slack="U0MARIA", phone="+359881000001"),
        "lead": Person(email="lead@example.com"),
    }
    assert address_for("maria", "slack", people) == "U0MARIA"
    assert address_for("lead", "slack", people) == "lead@example.com"  # lookupByEmail
    assert address_for("lead", "sms", people) is None
    assert address_for("#support", "slack", people) == "#support"
    assert address_for("#C0123ABCD", "slack", people) == "C0123ABCD"
    assert address_for("#support", "email", people) is None
    assert address_for("x@example.com", "email", people) == "x@example.com"
    assert address_for("+359881000003", "sms", people) == "+359881000003"
    assert address_for("+359881000003", "email", people) is None


# ---------------------------------------------------------------------------- catch-up
def test_select_catch_up_normal_operation_sends_everything() -> None:
    due = [notice("a", minutes=-0.5), notice("b", minutes=-0.2, recipient="lead")]
    assert select_catch_up(due, T0, timedelta(minutes=5)) == (due, [])


def test_select_catch_up_one_level_late_is_still_sent_as_is() -> None:
    due = [
        notice("breach-team", "breach", -60),
        notice("breach-mgr", "breach", -60, channel="email"),
    ]
    send, skipped = select_catch_up(due, T0, timedelta(minutes=5))
    assert send == due and skipped == []


def test_select_catch_up_keeps_the_most_severe_level_with_all_its_recipients() -> None:
    w75 = notice("csm-75", "warning", -90, severity=severity("warning", 75))
    w90 = notice("lead-90", "warning", -30, severity=severity("warning", 90), recipient="lead")
    b1 = notice("breach-team", "breach", -10, severity=severity("breach", 100))
    b2 = replace(b1, step="breach-mgr", recipient="manager", channel="email")
    send, skipped = select_catch_up([w75, w90, b1, b2], T0, timedelta(minutes=5))
    assert [(n.stage, n.covers, n.step) for n in send] == [
        ("catchup", "breach", "breach-team"),
        ("catchup", "breach", "breach-mgr"),
    ]
    assert send[0].missed == ("response:csm-75#0", "response:lead-90#0")
    assert [n.step for n in skipped] == ["csm-75", "lead-90"]
    assert all("superseded by catch-up" in n.reason for n in skipped)
    assert {n.dedupe_key for n in send} == {b1.dedupe_key, b2.dedupe_key}


# ---------------------------------------------------------------------------- re-check
def history(*events: IncidentEvent) -> IncidentHistory:
    return IncidentHistory(opened_at=T0, priority="high", events=events, via_hotline=True)


def test_still_applies_drops_resolved_met_and_acknowledged() -> None:
    now = T0 + timedelta(hours=1)
    assert still_applies("warning", "response", history(), now) == (True, "")
    assert still_applies("meeting_reminder", None, None, now) == (True, "")
    resolved = history(IncidentEvent(EventType.RESOLVED, T0 + timedelta(minutes=30)))
    assert still_applies("breach", "resolution", resolved, now) == (False, "incident resolved")
    responded = history(IncidentEvent(EventType.RESPONDED, T0 + timedelta(minutes=10)))
    ok, why = still_applies("breach", "response", responded, now)
    assert not ok and why.startswith("response target met")
    assert still_applies("breach", "workaround", responded, now) == (True, "")
    acked = history(IncidentEvent(EventType.ACKNOWLEDGED, T0 + timedelta(minutes=3), by="ivan"))
    ok, why = still_applies("page", "response", acked, now)
    assert not ok and "acknowledged by ivan" in why
    # an acknowledgement stops pages, not escalations
    assert still_applies("warning", "response", acked, now) == (True, "")
    ok, _ = still_applies("catchup", "response", acked, now, covers="page")
    assert not ok
    downgraded = history(
        IncidentEvent(EventType.PRIORITY_CHANGED, T0 + timedelta(minutes=2), priority="medium")
    )
    ok, why = still_applies("page", "response", downgraded, now)
    assert not ok and "priority changed to medium" in why
    # an event after the decision (not yet happened at `now`) does not count
    assert still_applies("page", "response", acked, T0 + timedelta(minutes=1))[0] is True


# -------------------------------------------------------------------------------- retries
def test_backoff_grows_exponentially_with_jitter_and_caps() -> None:
    initial, maximum = timedelta(seconds=10), timedelta(minutes=30)
    lows = [retry_delay(n, initial=initial, maximum=maximum, rand=0.0) for n in range(1, 12)]
    highs = [retry_delay(n, initial=initial, maximum=maximum, rand=1.0) for n in range(1, 12)]
    assert highs[:4] == [timedelta(seconds=s) for s in (10, 20, 40, 80)]
    assert lows[:4] == [timedelta(seconds=s) for s in (5, 10, 20, 40)]
    assert max(highs) == maximum and highs[-1] == maximum and lows[-1] == maximum / 2
    mid = retry_delay(3, initial=initial, maximum=maximum, rand=0.5)
    assert timedelta(seconds=20) < mid < timedelta(seconds=40)
    assert retry_delay(10_000, initial=initial, maximum=maximum, rand=1.0) == maximum


def test_backoff_honours_retry_after_even_beyond_the_cap() -> None:
    kw = {"initial": timedelta(seconds=10), "maximum": timedelta(minutes=1), "rand": 0.0}
    assert retry_delay(1, retry_after=timedelta(seconds=42), **kw) == timedelta(seconds=42)  # type: ignore[arg-type]
    assert retry_delay(1, retry_after=timedelta(seconds=1), **kw) == timedelta(seconds=5)  # type: ignore[arg-type]
    assert retry_delay(1, retry_after=timedelta(minutes=5), **kw) == timedelta(minutes=5)  # type: ignore[arg-type]
    assert retry_delay(1, retry_after=timedelta(days=3), **kw) == MAX_RETRY_AFTER  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        retry_delay(0, **kw)  # type: ignore[arg-type]


def test_next_attempt_gives_up_after_max_attempts() -> None:
    kw = {"initial": timedelta(seconds=10), "maximum": timedelta(minutes=30), "rand": 1.0}
    first = next_attempt(1, T0, max_attempts=3, **kw)  # type: ignore[arg-type]
    assert first.retry and first.at == T0 + timedelta(seconds=10)
    honoured = next_attempt(2, T0, max_attempts=3, retry_after=timedelta(minutes=2), **kw)  # type: ignore[arg-type]
    assert honoured.at == T0 + timedelta(minutes=2) and "Retry-After" in honoured.reason
    last = next_attempt(3, T0, max_attempts=3, **kw)  # type: ignore[arg-type]
    assert not last.retry and last.at is None and "gave up after 3" in last.reason


# ----------------------------------------------------------------------------- buckets
def test_token_bucket_refills_and_caps() -> None:
    bucket = TokenBucket(rate_per_s=1.0, capacity=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s(0.0) == pytest.approx(1.0)
    assert bucket.take(1.0)
    assert bucket.tokens(100.0) == 3  # capped
    assert bucket.take(100.0, cost=5, force=True)  # borrowing
    assert bucket.tokens(100.0) == -2 and bucket.wait_s(100.0) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        TokenBucket(0, 1)


def _simulate(queue: list[tuple[bool, str, str, float]], limiter: RateLimiter, tick: float):
    """A dispatcher on virtual time: (urgent, channel, recipient, enqueue time) -> send times."""
    pending = sorted(
        range(len(queue)),
        key=lambda i: dispatch_order(queue[i][0], 0, T0 + timedelta(seconds=queue[i][3])),
    )
    sent: dict[int, float] = {}
    t = 0.0
    while pending and t < 7200:
        blocked: set[tuple[str, str]] = set()
        for i in list(pending):
            urgent, channel, recipient, enqueued = queue[i]
            if enqueued > t or (channel, recipient) in blocked:
                continue
            if limiter.acquire(channel, recipient, t, urgent=urgent) == 0.0:
                sent[i] = t
                pending.remove(i)
            else:
                blocked.add((channel, recipient))
        t = round(t + tick, 6)
    return sent


def _max_in_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    best, left = 0, 0
    for right, value in enumerate(times):
        while value - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


def test_a_burst_of_500_breaches_goes_out_steadily_and_never_delays_a_page() -> None:
    limiter = RateLimiter(
        {"slack": 50, "email": 120, "sms": 60}, {"slack": 20, "email": 20, "sms": 12}
    )
    queue: list[tuple[bool, str, str, float]] = []
    for i in range(500):  # Monday 09:00: 500 incidents breach at once
        queue.append((False, "slack", "#support", 0.0))
        queue.append((False, "email", "manager", 0.0))
        queue.append((False, "slack", f"csm{i % 25}", 0.0))
        queue.append((False, "sms", f"+3598810{i % 50:05d}", 0.0))  # a (silly) SMS rule too
    page_at = [90.0, 600.0, 1200.0]
    for at in page_at:
        queue.append((True, "sms", "+359881000002", at))  # hotline pages mid-burst
    sent = _simulate(queue, limiter, tick=0.5)
    assert len(sent) == len(queue)  # nothing lost
    by: dict[tuple[str, str], list[float]] = defaultdict(list)
    per_channel: dict[str, list[float]] = defaultdict(list)
    for i, t in sent.items():
        urgent, channel, recipient, _ = queue[i]
        if not urgent:
            by[(channel, recipient)].append(t)
            per_channel[channel].append(t)
    # limits hold in every 60 s window (rate per minute plus the initial burst allowance)
    assert _max_in_window(per_channel["slack"]) <= 50 + 9
    assert _max_in_window(per_channel["sms"]) <= 60 + 10
    assert _max_in_window(by[("slack", "#support")]) <= 20 + 4
    assert _max_in_window(by[("email", "manager")]) <= 20 + 4
    # steadily: the team channel gets ~20 a minute for ~25 minutes, with no long silence
    support = sorted(by[("slack", "#support")])
    assert 24 * 60 <= support[-1] <= 26 * 60
    assert max(b - a for a, b in itertools.pairwise(support)) <= 5.0
    # pages go out the moment they are enqueued, burst or not
    pages = sorted(t for i, t in sent.items() if queue[i][0])
    assert pages == page_at


def test_limiter_channel_bucket_is_shared_and_idle_recipients_are_forgotten() -> None:
    limiter = RateLimiter({"slack": 60}, {"slack": 20})
    results = [limiter.acquire("slack", f"u{i}", 0.0) for i in range(20)]
    # the channel allows a burst of 10 (a sixth of a minute), then one a second
    assert results[:10] == [0.0] * 10
    assert all(r > 0 for r in results[10:])
    assert limiter.acquire("slack", "u99", 1.0) == 0.0
    assert limiter.prune(3600.0) == 21
    assert limiter.wait_s("slack", "u1", 3600.0) == 0.0


def test_collapse_released_keeps_the_most_severe_per_incident_recipient_channel() -> None:
    rows = [
        Releasable(1, "7", "response", "maria", "slack", severity("warning", 75), "warning"),
        Releasable(2, "7", "response", "maria", "slack", severity("breach", 100), "breach"),
        Releasable(3, "7", "workaround", "maria", "slack", severity("warning", 90), "warning"),
        Releasable(4, "7", "response", "maria", "email", severity("warning", 90), "warning"),
        Releasable(5, "8", "response", "maria", "slack", severity("warning", 50), "warning"),
        Releasable(6, None, None, "maria", "slack", 0, "meeting_reminder"),
        Releasable(7, "7", "response", "maria", "sms", severity("page", 100), "page"),
    ]
    keep, drop = collapse_released(rows)
    assert sorted(r.id for r in keep) == [2, 4, 5, 6, 7]  # type: ignore[type-var]
    assert sorted(r.id for r in drop) == [1, 3]  # type: ignore[type-var]
