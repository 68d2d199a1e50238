"""Whether a process has ended, for the tests that check no scan worker is left behind."""

from __future__ import annotations

import time
from pathlib import Path


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its parent counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0]
    except FileNotFoundError:
        return True
    return state == "Z"


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Poll :func:`gone` until it holds or ``timeout_s`` passes; the last answer."""
    deadline = time.monotonic() + timeout_s
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
