"""Which sender carries which channel, from the configuration."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from fakes.slack import FakeSlack
from slawatch.config.loader import build_settings
from slawatch.errors import SecretError
from slawatch.render import Renderer, example_context
from slawatch.senders.console import ConsoleSender
from slawatch.senders.email import SmtpEmailSender
from slawatch.senders.factory import FanoutSender, build_senders, describe
from slawatch.senders.jsonl import read_jsonl
from slawatch.senders.slack import SlackSender
from slawatch.senders.sms import TwilioSmsSender


def test_without_providers_every_channel_goes_to_console_and_file(tmp_path: Path) -> None:
    out = io.StringIO()
    path = tmp_path / "n.jsonl"
    senders = build_senders(build_settings({}, None), stdout=out, default_jsonl_path=path)
    assert set(senders) == {"slack", "sms", "email"}
    assert describe(senders) == {c: "ConsoleSender+JsonlSender" for c in senders}
    message = Renderer().render("breach", "slack", example_context("breach"))
    senders["slack"].send(message, "#support", thread_ref=None)
    assert "--- slawatch breach HD-1042 -> slack #support ---" in out.getvalue()
    assert read_jsonl(path)[0]["address"] == "#support"


def test_output_switches(tmp_path: Path) -> None:
    only_console = build_senders(build_settings({}, None))
    assert all(isinstance(s, ConsoleSender) for s in only_console.values())
    nothing = build_settings({"output": {"console": False}}, None)
    assert build_senders(nothing) == {}
    file_only = build_settings(
        {"output": {"console": False, "jsonl_path": str(tmp_path / "x")}}, None
    )
    assert describe(build_senders(file_only))["sms"] == "JsonlSender"


def test_configured_providers_get_their_senders(
    fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = {
        "slack": {"token": "env:T_SLACK", "base_url": fake_slack.base_url},
        "sms": {
            "account_sid": "AC" + "0" * 32,
            "auth_token": "env:T_TWILIO",
            "from": "+15005550006",
        },
        "email": {"host": "127.0.0.1", "port": 2525, "security": "none", "from": "a@b.example"},
    }
    settings = build_settings(data, None)
    monkeypatch.delenv("T_SLACK", raising=False)
    with pytest.raises(SecretError, match="T_SLACK"):
        build_senders(settings)
    monkeypatch.setenv("T_SLACK", fake_slack.token)
    monkeypatch.setenv("T_TWILIO", "x")
    senders = build_senders(settings)
    assert isinstance(senders["slack"], SlackSender)
    assert isinstance(senders["sms"], TwilioSmsSender)
    assert isinstance(senders["email"], SmtpEmailSender)


def test_partial_configuration_mixes_real_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_TWILIO", "x")
    settings = build_settings(
        {
            "sms": {
                "account_sid": "AC1",
                "auth_token": "env:T_TWILIO",
                "messaging_service_sid": "MG1",
            }
        },
        None,
    )
    senders = build_senders(settings)
    assert isinstance(senders["sms"], TwilioSmsSender)
    assert isinstance(senders["slack"], ConsoleSender) and senders["slack"] is senders["email"]
    assert not isinstance(senders["slack"], FanoutSender)
