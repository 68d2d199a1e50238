"""The daemon pid lock, probed from another process as `slawatch db restore` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slawatch.runtime.pidlock import DaemonRunningError, PidLock, holder_pid, pid_path


def test_pid_path_is_next_to_the_database_or_in_the_state_directory() -> None:
    assert pid_path(Path("var/slawatch.db")) == Path("var/slawatch.pid")
    assert pid_path(None, {"STATE_DIRECTORY": "/var/lib/slawatch"}) == Path(
        "/var/lib/slawatch/slawatch.pid"
    )
    assert pid_path(None, {}) == Path("var/slawatch.pid")


def test_lock_is_exclusive_and_records_the_pid(tmp_path: Path) -> None:
    path = tmp_path / "var" / "slawatch.pid"
    assert holder_pid(path) is None
    with PidLock(path) as lock:
        assert lock.held
        assert path.read_text().strip() == str(os.getpid())
        assert holder_pid(path) == os.getpid()
        with pytest.raises(DaemonRunningError, match=str(os.getpid())):
            PidLock(path).acquire()
    assert holder_pid(path) is None
    PidLock(path).acquire()  # free again


def _holder(path: Path) -> subprocess.Popen[str]:
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from slawatch.runtime.pidlock import PidLock\n"
        f"PidLock(Path({str(path)!r})).acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_killed_daemon_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "slawatch.pid"
    proc = _holder(path)
    try:
        assert holder_pid(path) == proc.pid
        with pytest.raises(DaemonRunningError):
            PidLock(path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert path.exists()  # the file stays behind after SIGKILL...
    deadline = time.monotonic() + 5
    while holder_pid(path) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert holder_pid(path) is None  # ...but the lock is gone with the process
