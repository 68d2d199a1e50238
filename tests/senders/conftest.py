"""Fixtures for sender tests: the fake provider servers from ``tests/fakes``."""

from fakes.fixtures import (  # noqa: F401
    closed_port,
    fake_slack,
    fake_smtp,
    fake_smtp_starttls,
    fake_smtp_tls,
    fake_twilio,
    smtp_cert_dir,
)
