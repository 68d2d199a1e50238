"""The real `slawatch run` as systemd runs it: NOTIFY_SOCKET, WATCHDOG_USEC, SIGHUP, SIGTERM.

A bound AF_UNIX datagram socket plays systemd's part. stdout is a pipe, as under journald, so
the log must be JSON lines, and the API token (a resolved secret) must never appear in it.
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
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

API_TOKEN = "e2e-api-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Systemd:
    """The receiving end of $NOTIFY_SOCKET."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="sdn-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[dict[str, str]] = []

    def wait_for(self, key: str, timeout_s: float = 20) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            message = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
            self.messages.append(message)
            if key in message:
                return message
        raise AssertionError(f"no {key} within {timeout_s}s; got {self.messages}")

    def close(self) -> None:
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.fixture
def systemd() -> Iterator[Systemd]:
    receiver = Systemd()
    yield receiver
    receiver.close()


def test_readiness_watchdog_reload_and_stop(systemd: Systemd, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "slawatch.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/slawatch.db"\n'
        f'[api]\nlisten = "127.0.0.1:{port}"\ntokens = ["env:SLAWATCH_API_TOKEN"]\n'
        '[daemon]\nscan_interval = "1s"\n'
    )
    env = {
        **os.environ,
        "NOTIFY_SOCKET": systemd.path,
        "WATCHDOG_USEC": "1000000",  # 1 s: pings every 0.5 s while scans progress
        "SLAWATCH_API_TOKEN": API_TOKEN,
    }
    env.pop("WATCHDOG_PID", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "slawatch", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = systemd.wait_for("READY")
        print(f"READY=1 after {time.monotonic() - started:.2f} s: STATUS={ready.get('STATUS')}")
        assert ready.get("STATUS")
        assert (tmp_path / "slawatch.pid").read_text().strip() == str(proc.pid)
        systemd.wait_for("WATCHDOG", timeout_s=5)
        systemd.wait_for("WATCHDOG", timeout_s=5)

        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read().decode()
        assert "slawatch_last_successful_scan_timestamp_seconds" in body

        proc.send_signal(signal.SIGHUP)
        reloading = systemd.wait_for("RELOADING")
        assert int(reloading["MONOTONIC_USEC"]) > 0
        systemd.wait_for("READY")

        proc.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING")
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    json_lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert json_lines and all({"event", "level", "logger"} <= set(line) for line in json_lines)
    assert any(line["event"] == "started" for line in json_lines)
    assert any(line["logger"].startswith("uvicorn") for line in json_lines)  # stdlib routed
    assert not any("color_message" in line for line in json_lines)
    assert API_TOKEN not in out and API_TOKEN not in err
