"""The real ``slawatch run`` with ``[daemon] scan_workers = 1``: the worker starts at the first
big batch (the start-up full recompute, decided in-process meanwhile), shares the full
recompute after a reload, and is gone when the daemon exits on SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_harness import Daemon, poll

from daemon_env import ENVIRON, write_config
from processes import gone, wait_gone
from slawatch.config.loader import load_config
from slawatch.service.escalation import SPLIT_MIN
from slawatch.service.incidents import IncidentInput
from slawatch.service.intake import Intake
from slawatch.store.db import Database
from slawatch.store.migrate import upgrade

pytestmark = pytest.mark.e2e

INCIDENTS = SPLIT_MIN + 36


def _outcome(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT id, next_check_at, due_at, breached FROM incidents ORDER BY id"
        ).fetchall()


def test_scan_workers_share_the_full_recompute_and_stop_with_the_daemon(tmp_path: Path) -> None:
    config = tmp_path / "slawatch.toml"
    write_config(config, scan_interval="1s", jsonl_path=str(tmp_path / "out.jsonl"))
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('scan_interval = "1s"', 'scan_interval = "1s"\nscan_workers = 1'),
        encoding="utf-8",
    )
    settings = load_config(config, ENVIRON)
    assert settings.file.daemon.scan_workers == 1
    db_path = tmp_path / "var" / "slawatch.db"
    db = Database(f"sqlite:///{db_path}")
    upgrade(db)
    intake = Intake(db, settings)
    intake.add_account(
        "acme", {"name": "ACME", "plan": "premium", "calendar": "24x7", "csm": "maria"}
    )
    now = datetime.now(UTC)
    for n in range(INCIDENTS):
        intake.open_incident(
            IncidentInput(
                external_id=f"W-{n}",
                account="acme",
                priority=("high", "medium", "low")[n % 3],
                title=f"worker {n}",
                opened_at=now - timedelta(hours=n),
            )
        )
    db.dispose()

    daemon = Daemon(tmp_path, config, environ=ENVIRON).start()
    try:
        first = daemon.wait_event("scan_finished", timeout_s=60)
        assert first.data["kind"] == "full" and first.data["evaluated"] == INCIDENTS
        assert first.data["by_workers"] == 0  # the worker was only starting
        daemon.wait_event("scan_workers_starting", timeout_s=10)
        mark = daemon.log_mark()
        # The next big batch finds it ready: a reload's full recompute.
        poll("the worker's warm-up", lambda: daemon.events("scan_workers_ready") or None, 60)
        daemon.signal(signal.SIGHUP)
        daemon.wait_event("reloaded", after=mark, timeout_s=20)

        def full_after_reload() -> object:
            return next(
                (e for e in daemon.events("scan_finished", after=mark) if e.data["kind"] == "full"),
                None,
            )

        full = poll("the full recompute after the reload", full_after_reload, 30)
        assert full.data["evaluated"] == INCIDENTS  # type: ignore[attr-defined]
        assert 0 < full.data["by_workers"] < INCIDENTS  # type: ignore[attr-defined]
        assert not daemon.events("scan_worker_failed")
        pids = daemon.events("scan_workers_ready")[0].data["pids"]
        assert pids and all(not gone(pid) for pid in pids)
        before = _outcome(db_path)
    finally:
        code = daemon.stop()
    assert code == 0
    assert all(wait_gone(pid, 10) for pid in pids), "a worker outlived its daemon"
    assert _outcome(db_path) == before
    # every incident was looked at and scheduled
    assert all(row[1] is not None for row in before)
    assert os.path.exists(tmp_path / "out.jsonl")
