"""``slawatch run`` imports only what the running daemon needs (issue 4: ready within 2 s).

Most of the start-up is importing libraries, so a timing assertion would be flaky on a shared
machine while a stray import is a regression that stays put: the real ``slawatch run`` is
started (as systemd would, with ``$NOTIFY_SOCKET``), the modules loaded when it sends
``READY=1`` are recorded, and the ones it must not need are looked for:

* Alembic (and Mako, which its script machinery imports): a brand-new database is created from
  the models and stamped, and one that is already current is only checked with a query;
* provider clients (``slack_sdk``, ``twilio``) and the SMTP sender when the configuration names
  no such provider, and SQLAlchemy's PostgreSQL dialect on a SQLite database;
* the ``holidays`` country modules of countries no calendar names (the package would import all
  ~250 of them), and the ``holidays`` package itself when no calendar names a country.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
API_TOKEN = "startup-imports-token-0123456789abcdef"

#: Runs the real CLI; at the first READY=1 it writes sys.modules to $SLAWATCH_TEST_MODULES.
DRIVER = """
import json, os, sys
from slawatch.runtime import sdnotify

_ready = sdnotify.Notifier.ready

def ready(self, status=None):
    path = os.environ["SLAWATCH_TEST_MODULES"]
    if not os.path.exists(path):
        with open(path + ".tmp", "w") as f:
            json.dump(sorted(sys.modules), f)
        os.replace(path + ".tmp", path)
    return _ready(self, status)

sdnotify.Notifier.ready = ready
from slawatch.cli.main import main
sys.argv = ["slawatch", "run", *sys.argv[1:]]
main()
"""

NEVER = (
    "alembic",
    "mako",
    "slack_sdk",
    "twilio",
    "slawatch.senders.email",
    "smtplib",
    # the tests' databases are SQLite: the PostgreSQL dialect is imported only on use
    "sqlalchemy.dialects.postgresql",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    directory = tempfile.mkdtemp(prefix="sdn-")
    path = os.path.join(directory, "notify")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    yield receiver, path
    receiver.close()
    os.unlink(path)
    os.rmdir(directory)


def modules_at_ready(
    notify: tuple[socket.socket, str], workdir: Path, args: list[str], name: str
) -> set[str]:
    """Start ``slawatch run ARGS`` in ``workdir``, wait for READY=1, stop it: its modules then."""
    receiver, path = notify
    out = workdir / f"{name}.json"
    env = {
        **os.environ,
        "NOTIFY_SOCKET": path,
        "STATE_DIRECTORY": str(workdir),
        "SLAWATCH_API_TOKEN": API_TOKEN,
        "SLAWATCH_TEST_MODULES": str(out),
    }
    for var in ("SLAWATCH_CONFIG", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            receiver.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = receiver.recv(4096).decode()
            except TimeoutError:
                pytest.fail(f"no READY=1 within 60 s; stderr: {proc.stderr}")
            if "READY=1" in data.splitlines():
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    return set(json.loads(out.read_text()))


def _unexpected(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in NEVER or m in NEVER)


def test_run_on_the_example_config_imports_only_what_it_needs(
    notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    config = tmp_path / "slawatch.toml"
    text = (ROOT / "config" / "slawatch.toml").read_text(encoding="utf-8")
    config.write_text(
        text.replace('listen = "127.0.0.1:8087"', f'listen = "127.0.0.1:{free_port()}"'),
        encoding="utf-8",
    )
    assert (tmp_path / "slawatch.db").exists() is False
    for start in ("fresh", "at-head"):
        modules = modules_at_ready(notify_socket, tmp_path, ["--config", str(config)], start)
        # the snapshot is taken at READY=1: the API, the timer and the senders are loaded
        assert {"fastapi", "uvicorn", "apscheduler", "slawatch.senders.console"} <= modules
        assert _unexpected(modules) == [], start
        countries = {m for m in modules if m.startswith("holidays.countries.")}
        # the example's calendars: Sofia (BG) and New York (US, NY)
        assert countries == {"holidays.countries.bulgaria", "holidays.countries.united_states"}


def test_run_on_the_embedded_defaults_needs_no_holidays(
    notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    # Every default but the API's port (8087 may be taken on a shared machine).
    config = tmp_path / "slawatch.toml"
    config.write_text(f'[api]\nlisten = "127.0.0.1:{free_port()}"\n', encoding="utf-8")
    modules = modules_at_ready(notify_socket, tmp_path, ["--config", str(config)], "defaults")
    assert "slawatch.runtime.daemon" in modules
    assert _unexpected(modules) == []
    assert not {m for m in modules if m.split(".")[0] == "holidays"}


def test_start_turns_the_garbage_collector_back_on(tmp_path: Path) -> None:
    """``slawatch run`` starts with the collector off; ``Daemon.start`` must turn it on again
    whatever happens (here: a configuration error), or a long-running daemon would leak; with
    the scan's thresholds (runtime/gctune.py)."""
    import gc

    from slawatch.errors import ConfigError
    from slawatch.runtime.daemon import Daemon
    from slawatch.runtime.gctune import THRESHOLDS
    from slawatch.wiring import DaemonParts

    config = tmp_path / "slawatch.toml"
    config.write_text("[daemon]\nscan_interval = 5\n", encoding="utf-8")
    before = gc.get_threshold()
    gc.disable()
    gc.set_threshold(700, 10, 10)
    try:
        with pytest.raises(ConfigError):
            Daemon(str(config), parts=DaemonParts(), environ={}).start()
        assert gc.isenabled()
        assert gc.get_threshold() == THRESHOLDS
    finally:
        gc.enable()
        gc.set_threshold(*before)
