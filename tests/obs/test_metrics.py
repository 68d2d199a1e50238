"""Metrics: recorded values show up in the exposition that GET /metrics serves."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from slawatch.api.metrics_route import metrics_router
from slawatch.obs.metrics import Metrics, exposition


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = exposition(metrics)
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_sends_are_counted_by_channel_and_outcome_with_latency() -> None:
    m = Metrics()
    m.record_send("slack", "sent", 0.2)
    m.record_send("slack", "sent", 0.4)
    m.record_send("sms", "retry", 3.0)
    m.record_send("email", "dropped")
    s = samples(m)
    assert s[("slawatch_notifications_total", (("channel", "slack"), ("outcome", "sent")))] == 2
    assert s[("slawatch_notifications_total", (("channel", "sms"), ("outcome", "retry")))] == 1
    assert s[("slawatch_notifications_total", (("channel", "email"), ("outcome", "dropped")))] == 1
    assert s[("slawatch_send_latency_seconds_count", (("channel", "slack"),))] == 2
    assert abs(s[("slawatch_send_latency_seconds_sum", (("channel", "slack"),))] - 0.6) < 1e-9
    bucket = ("slawatch_send_latency_seconds_bucket", (("channel", "sms"), ("le", "2.5")))
    assert s[bucket] == 0
    assert ("slawatch_send_latency_seconds_count", (("channel", "email"),)) not in s


def test_unknown_outcome_is_refused() -> None:
    try:
        Metrics().record_send("slack", "ok")
    except ValueError as exc:
        assert "outcome" in str(exc)
    else:
        raise AssertionError("an unknown outcome must be refused")


def test_scan_duration_and_last_success() -> None:
    m = Metrics()
    m.record_scan(0.12, ok=True, finished_at_unix=1_780_000_000.0)
    m.record_scan(0.3, ok=False, finished_at_unix=1_780_000_030.0)
    m.record_scan(4.0, ok=True, finished_at_unix=1_780_000_060.0, kind="full")
    s = samples(m)
    assert s[("slawatch_last_successful_scan_timestamp_seconds", ())] == 1_780_000_060.0
    assert s[("slawatch_scan_duration_seconds_count", (("kind", "tick"),))] == 2
    assert s[("slawatch_scan_duration_seconds_count", (("kind", "full"),))] == 1
    assert s[("slawatch_scan_failures_total", ())] == 1


def test_incident_gauges_replace_the_table() -> None:
    m = Metrics()
    m.set_incident_counts(
        due={("enterprise", "high"): 3, ("standard", "low"): 1},
        breached={("enterprise", "high"): 1},
    )
    m.set_incident_counts(due={("enterprise", "high"): 2}, breached={})
    s = samples(m)
    key = (("plan", "enterprise"), ("priority", "high"))
    assert s[("slawatch_incidents_due", key)] == 2
    assert s[("slawatch_incidents_breached", key)] == 0
    assert s[("slawatch_incidents_due", (("plan", "standard"), ("priority", "low")))] == 0


def test_outbox_gauges() -> None:
    m = Metrics()
    m.set_outbox(7, 42.5)
    s = samples(m)
    assert s[("slawatch_outbox_depth", ())] == 7
    assert s[("slawatch_outbox_oldest_pending_age_seconds", ())] == 42.5
    m.set_outbox(0, None)
    assert samples(m)[("slawatch_outbox_oldest_pending_age_seconds", ())] == 0


def test_two_instances_do_not_share_a_registry() -> None:
    a, b = Metrics(), Metrics()
    a.set_outbox(5, 1)
    assert samples(b)[("slawatch_outbox_depth", ())] == 0


def test_get_metrics_route_serves_the_exposition() -> None:
    m = Metrics()
    m.record_send("sms", "sent", 0.05)
    app = FastAPI()
    app.include_router(metrics_router(m))
    client = TestClient(app)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert 'slawatch_notifications_total{channel="sms",outcome="sent"} 1.0' in response.text
    assert "# TYPE slawatch_outbox_depth gauge" in response.text
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")
