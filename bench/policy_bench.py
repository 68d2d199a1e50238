"""Escalation-policy benchmark: the cost of ``slawatch.core.policy.decide`` per incident.

Incidents on the enterprise plan over the Sofia calendar (BG holidays), default rules, a mix of
priorities (a seventh via the hotline), opened every 37 minutes going back from ``now``. CPU time
(``time.process_time``, so a busy shared machine does not inflate it) per incident; three
measures, best of ``--repeat`` passes:

* first evaluation: nothing sent yet, so every crossed threshold becomes a notice (and old
  incidents a catch-up): the worst case, rare in operation;
* re-evaluation with everything sent: what the full recompute at start pays per incident;
* scan tick: one new threshold crossed per incident since the last evaluation.

Run: ``.venv/bin/python bench/policy_bench.py [--incidents N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from slawatch.config.loader import build_settings
from slawatch.config.policy_context import policy_context
from slawatch.core.incident import IncidentHistory
from slawatch.core.policy import IncidentSnapshot, decide

CONFIG = {
    "default_calendar": "sofia",
    "calendars": {
        "sofia": {
            "timezone": "Europe/Sofia",
            "hours": {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": {"country": "BG"},
        }
    },
    "people": {
        "maria": {"email": "m@example.com", "slack": "U1", "phone": "+359881000001"},
        "ivan": {"email": "i@example.com", "slack": "U2", "phone": "+359881000002"},
        "lead": {"email": "lead@example.com"},
        "manager": {"email": "manager@example.com", "phone": "+359881000009"},
    },
    "roles": {"support_lead": "lead", "support_manager": "manager", "team_channel": "#support"},
    "oncall": {"people": ["ivan", "maria"], "timezone": "Europe/Sofia"},
}


def best(repeat: int, run: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()  # type: ignore[operator]
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = build_settings(CONFIG, None)
    ctx = policy_context(settings)
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    plan, calendar = settings.plan("enterprise"), settings.calendar("sofia")
    incidents = [
        IncidentSnapshot(
            str(i),
            IncidentHistory(
                opened_at=now - timedelta(minutes=37 * i),
                priority=("high", "medium", "low")[i % 3],
                via_hotline=i % 7 == 0,
            ),
            plan,
            calendar,
            account="acme",
            csm="maria",
        )
        for i in range(args.incidents)
    ]
    n = len(incidents)
    first = best(args.repeat, lambda: [decide(i, ctx, now, set()) for i in incidents])
    sent = []
    for incident in incidents:
        ev = decide(incident, ctx, now, set())
        sent.append({x.dedupe_key for x in (*ev.notices, *ev.skipped)})
    later = now + timedelta(seconds=1)
    again = best(
        args.repeat,
        lambda: [decide(i, ctx, later, k) for i, k in zip(incidents, sent, strict=True)],
    )
    # scan tick: evaluate each incident just after its next threshold, with all before it sent
    ticks = []
    for incident, keys in zip(incidents, sent, strict=True):
        nxt = decide(incident, ctx, later, keys).next_check_at
        if nxt is not None:
            ticks.append((incident, keys, nxt))
    tick = best(args.repeat, lambda: [decide(i, ctx, t, k) for i, k, t in ticks])
    print(f"decide() per incident, {n} incidents, best of {args.repeat}:")
    print(f"  first evaluation (nothing sent yet):   {first / n * 1e6:8.0f} us")
    print(f"  re-evaluation (everything sent):       {again / n * 1e6:8.0f} us")
    print(f"  scan tick (one new threshold crossed): {tick / max(1, len(ticks)) * 1e6:8.0f} us")
    print(f"  => 1,000 due incidents in a scan tick: {tick / max(1, len(ticks)) * 1000:.2f} s")


if __name__ == "__main__":
    main()
