"""The daemon's wal-checkpoint job: registered on SQLite, and woken at once by a big scan.

A big scan leaves thousands of WAL pages on a large database; the dispatcher woken by that scan
would work against the long log until the next periodic checkpoint. Here the periodic interval
is pushed out of reach, so only the wake can run the job.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon_env import ENVIRON, config_text
from slawatch.runtime import daemon as daemon_module
from slawatch.runtime.daemon import CHECKPOINT_AFTER, CHECKPOINT_JOB, Daemon
from slawatch.service.incidents import IncidentInput
from slawatch.wiring import DaemonParts


def _wait_until(condition: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_big_scan_wakes_the_checkpoint_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_module, "CHECKPOINT_EVERY", timedelta(hours=1))
    config = tmp_path / "slawatch.toml"
    config.write_text(config_text(jsonl_path=str(tmp_path / "out.jsonl")))
    daemon = Daemon(
        str(config), parts=DaemonParts(), environ={**ENVIRON, "STATE_DIRECTORY": str(tmp_path)}
    )
    daemon.start()
    try:
        assert CHECKPOINT_JOB in daemon.timer.job_ids()
        daemon.intake.add_account("acme", {"name": "Acme", "plan": "enterprise", "csm": "maria"})
        opened = datetime.now(UTC) - timedelta(hours=1)
        for n in range(CHECKPOINT_AFTER - 1):
            daemon.intake.open_incident(IncidentInput(f"T-{n}", "acme", "low", "t", opened))
        # each change is evaluated on its own: small scans never wake the job
        assert not _wait_until(lambda: daemon.timer.last_success(CHECKPOINT_JOB), 1.0)
        daemon.intake.open_incident(IncidentInput("T-last", "acme", "low", "t", opened))
        daemon._full_recompute.set()  # what a reload does: every open incident, one scan
        daemon.scan()
        assert _wait_until(lambda: daemon.timer.last_success(CHECKPOINT_JOB) is not None)
    finally:
        daemon.shutdown()
