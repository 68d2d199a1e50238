"""``slawatch api``: the real process serves the HTTP API alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_slawatch_api_serves_alone(cli_config: Path) -> None:
    port = _free_port()
    env = {**os.environ, "SLAWATCH_TEST_TOKEN": "tok"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slawatch",
            "api",
            "--config",
            str(cli_config),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "slawatch api did not start"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json()["database"] is True
        auth = {"Authorization": "Bearer tok"}
        r = httpx.put(
            f"{base}/api/v1/accounts/acme", headers=auth, json={"name": "Acme", "plan": "business"}
        )
        assert r.status_code == 201
        ids = [a["id"] for a in httpx.get(f"{base}/api/v1/accounts", headers=auth).json()]
        assert ids == ["acme", "configured"]  # the config file's account is synced at start
        assert httpx.get(f"{base}/api/v1/accounts").status_code == 401
    finally:
        proc.terminate()
        proc.wait(20)


def test_slawatch_api_refuses_a_missing_token_secret(cli_config: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SLAWATCH_TEST_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "slawatch", "api", "--config", str(cli_config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "env:SLAWATCH_TEST_TOKEN" in result.stderr
