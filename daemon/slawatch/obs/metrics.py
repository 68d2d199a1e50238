"""Prometheus metrics on a dedicated registry, and their exposition for ``GET /metrics``.

A :class:`Metrics` object owns its own ``CollectorRegistry`` (not the global default), so two
daemons in one test process, or a reload, never collide on metric names. The runtime creates one
and passes it to whatever records; the API serves :func:`exposition` of it.

Who sets what:

* senders/dispatcher: :meth:`Metrics.record_send` per attempt (counter + latency);
* the scan job: :meth:`Metrics.record_scan` per run (duration; last success time when ok);
* after each scan: :meth:`Metrics.set_incident_counts` with the due and breached counts by plan
  and priority (the whole table, so vanished label sets drop to zero);
* the dispatcher: :meth:`Metrics.set_outbox` with the pending depth and the oldest pending age.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder

__all__ = ["CONTENT_TYPE", "Metrics", "exposition"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Sends: a Slack post or SMS takes ~0.1-2 s; timeouts are 10-30 s.
SEND_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Scans: the goal is 0.5 s for a tick with 1,000 due incidents; a full recompute may take 10 s.
SCAN_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

OUTCOMES = ("sent", "retry", "failed", "dropped")

# (plan, priority) -> count
IncidentCounts = Mapping[tuple[str, str], int]


class Metrics:
    """Every slawatch metric, registered on ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        r = self.registry
        self.notifications = Counter(
            "slawatch_notifications",
            "Notification send attempts by channel and outcome (sent, retry, failed, dropped).",
            ["channel", "outcome"],
            registry=r,
        )
        self.send_latency = Histogram(
            "slawatch_send_latency_seconds",
            "Time a sender took to hand one notification to its provider.",
            ["channel"],
            buckets=SEND_BUCKETS_S,
            registry=r,
        )
        self.scan_duration = Histogram(
            "slawatch_scan_duration_seconds",
            "Duration of one SLA scan (kind: tick or full recompute).",
            ["kind"],
            buckets=SCAN_BUCKETS_S,
            registry=r,
        )
        self.last_scan_success = Gauge(
            "slawatch_last_successful_scan_timestamp_seconds",
            "Unix time at which the last scan completed without error.",
            registry=r,
        )
        self.scan_failures = Counter(
            "slawatch_scan_failures", "Scans that raised an error.", registry=r
        )
        self.incidents_due = Gauge(
            "slawatch_incidents_due",
            "Open incidents with an SLA target still running, by plan and priority.",
            ["plan", "priority"],
            registry=r,
        )
        self.incidents_breached = Gauge(
            "slawatch_incidents_breached",
            "Open incidents with at least one breached SLA target, by plan and priority.",
            ["plan", "priority"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "slawatch_outbox_depth",
            "Notifications waiting in the outbox (pending or sending).",
            registry=r,
        )
        self.outbox_oldest_pending_age = Gauge(
            "slawatch_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending notification; 0 when the outbox is empty.",
            registry=r,
        )
        self._incident_labels: set[tuple[str, str]] = set()

    def record_send(self, channel: str, outcome: str, duration_s: float | None = None) -> None:
        """Count one send attempt; ``duration_s`` (when the provider was called) feeds latency."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        self.notifications.labels(channel=channel, outcome=outcome).inc()
        if duration_s is not None:
            self.send_latency.labels(channel=channel).observe(max(0.0, duration_s))

    def record_scan(
        self, duration_s: float, *, ok: bool, finished_at_unix: float, kind: str = "tick"
    ) -> None:
        """Observe one scan; a successful one also moves the last-success time (pass time in)."""
        self.scan_duration.labels(kind=kind).observe(max(0.0, duration_s))
        if ok:
            self.last_scan_success.set(finished_at_unix)
        else:
            self.scan_failures.inc()

    def set_incident_counts(self, due: IncidentCounts, breached: IncidentCounts) -> None:
        """Replace the due and breached gauges; label pairs absent now are reset to 0."""
        labels = set(due) | set(breached)
        for plan, priority in labels | self._incident_labels:
            self.incidents_due.labels(plan=plan, priority=priority).set(
                due.get((plan, priority), 0)
            )
            self.incidents_breached.labels(plan=plan, priority=priority).set(
                breached.get((plan, priority), 0)
            )
        self._incident_labels |= labels

    def set_outbox(self, depth: int, oldest_pending_age_s: float | None) -> None:
        self.outbox_depth.set(depth)
        self.outbox_oldest_pending_age.set(max(0.0, oldest_pending_age_s or 0.0))


def exposition(metrics: Metrics, accept: str | None = None) -> tuple[bytes, str]:
    """The exposition body and its content type, for ``GET /metrics``.

    ``accept`` is the request's ``Accept`` header: Prometheus text format by default, OpenMetrics
    when the scraper asks for it.
    """
    encoder, content_type = choose_encoder(accept or "")
    return encoder(metrics.registry), content_type
