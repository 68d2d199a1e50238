"""Timer.wake_at: a threshold instant between two interval ticks runs the job on time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from slawatch.runtime.timer import Timer


def test_wake_at_runs_the_job_between_ticks_and_keeps_the_sooner_request() -> None:
    runs: list[float] = []
    timer = Timer(misfire_grace=timedelta(seconds=30))
    timer.every("scan", lambda: runs.append(time.monotonic()), timedelta(hours=1))
    timer.start()
    try:
        deadline = time.monotonic() + 5
        while not runs and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(runs) == 1  # the immediate first run; the next tick is an hour away
        asked = time.monotonic()
        timer.wake_at("scan", datetime.now(UTC) + timedelta(seconds=5))
        timer.wake_at("scan", datetime.now(UTC) + timedelta(milliseconds=300))  # sooner wins
        timer.wake_at("scan", datetime.now(UTC) + timedelta(seconds=9))  # later is ignored
        deadline = time.monotonic() + 5
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(runs) == 2
        assert 0.2 <= runs[1] - asked < 3.0
    finally:
        timer.shutdown()
