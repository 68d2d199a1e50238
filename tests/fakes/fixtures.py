"""Pytest fixtures around the fake provider servers (import them into a conftest or test)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.slack import FakeSlack
from fakes.smtp import FakeSmtp
from fakes.twilio import FakeTwilio


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def fake_smtp() -> Iterator[FakeSmtp]:
    """Plain SMTP without AUTH (``[email] security = "none"``)."""
    with FakeSmtp() as server:
        yield server


@pytest.fixture(scope="session")
def smtp_cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the self-signed certificate is made, once per test session."""
    return tmp_path_factory.mktemp("smtp-cert")


@pytest.fixture
def fake_smtp_starttls(smtp_cert_dir: Path) -> Iterator[FakeSmtp]:
    """STARTTLS required, AUTH required (user ``alerts``, password ``smtp-secret``)."""
    with FakeSmtp(security="starttls", auth=("alerts", "smtp-secret"), tmp_dir=smtp_cert_dir) as s:
        yield s


@pytest.fixture
def fake_smtp_tls(smtp_cert_dir: Path) -> Iterator[FakeSmtp]:
    """Implicit TLS (SMTPS), AUTH required (user ``alerts``, password ``smtp-secret``)."""
    with FakeSmtp(security="tls", auth=("alerts", "smtp-secret"), tmp_dir=smtp_cert_dir) as s:
        yield s


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
