"""The Twilio SMS sender, driven through the real twilio Client against a local Messages API."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from fakes.twilio import FakeTwilio
from slawatch.config.schema import SmsConfig
from slawatch.config.secrets import Secret
from slawatch.errors import PermanentDeliveryError, TemporaryDeliveryError
from slawatch.render import Renderer, example_context
from slawatch.render.message import RenderedMessage
from slawatch.senders.base import Sender
from slawatch.senders.sms import TwilioSmsSender

TO = "+359881234567"


def sender_for(
    fake: FakeTwilio, token: str | None = None, timeout_s: float = 2, **kw
) -> TwilioSmsSender:  # type: ignore[no-untyped-def]
    kw.setdefault("from_", "+15005550006")
    return TwilioSmsSender(
        fake.account_sid,
        Secret(token or fake.auth_token, "env:TWILIO_AUTH_TOKEN"),
        base_url=fake.url,
        timeout=timedelta(seconds=timeout_s),
        **kw,
    )


def page() -> RenderedMessage:
    return Renderer().render("page", "sms", example_context("page"))


def test_sends_from_a_number_with_basic_auth_and_returns_the_sid(fake_twilio: FakeTwilio) -> None:
    sender = sender_for(fake_twilio)
    assert isinstance(sender, Sender) and sender.channels == {"sms"}
    msg = page()
    result = sender.send(msg, TO, thread_ref=None)
    [sent] = fake_twilio.messages
    assert sent["to"] == TO and sent["from"] == "+15005550006" and sent["body"] == msg.sms
    assert result.provider_message_id == sent["sid"] and result.provider_message_id.startswith("SM")
    assert result.thread_ref is None
    [request] = fake_twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    expected = base64.b64encode(f"{fake_twilio.account_sid}:{fake_twilio.auth_token}".encode())
    assert request.headers["Authorization"] == "Basic " + expected.decode()
    assert sent["status_callback"] is None


def test_messaging_service_and_status_callback(fake_twilio: FakeTwilio) -> None:
    sender = sender_for(
        fake_twilio,
        from_=None,
        messaging_service_sid="MG" + "1" * 32,
        status_callback="https://slawatch.example.com/twilio/status",
    )
    sender.send(page(), TO, thread_ref=None)
    [sent] = fake_twilio.messages
    assert sent["from"] is None and sent["messaging_service_sid"] == "MG" + "1" * 32
    assert sent["status_callback"] == "https://slawatch.example.com/twilio/status"


def test_base_url_survives_twilio_edge_and_region_variables(
    fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    with capture_logs() as logs:
        sender = sender_for(fake_twilio)
    sender.send(page(), TO, thread_ref=None)
    assert len(fake_twilio.messages) == 1
    assert {e.get("variable") for e in logs if e["event"] == "twilio_env_ignored"} == {
        "TWILIO_EDGE",
        "TWILIO_REGION",
    }


@pytest.mark.parametrize(
    ("code", "why"),
    [
        (21211, "not a valid phone number"),
        (21610, "unsubscribed"),
        (21614, "not a mobile number"),
        (21408, "region is not enabled"),
        (21999, "Twilio refused the message (HTTP 400)"),
    ],
)
def test_permanent_twilio_errors(fake_twilio: FakeTwilio, code: int, why: str) -> None:
    fake_twilio.error(400, code, "nope")
    with pytest.raises(PermanentDeliveryError) as err:
        sender_for(fake_twilio).send(page(), TO, thread_ref=None)
    assert err.value.code == f"twilio_{code}" and why in str(err.value)
    assert TO not in str(err.value) and "+35988****567" in str(err.value)


def test_invalid_number_is_checked_by_the_server_and_permanent(fake_twilio: FakeTwilio) -> None:
    with pytest.raises(PermanentDeliveryError) as err:
        sender_for(fake_twilio).send(page(), "0881234567", thread_ref=None)
    assert err.value.code == "twilio_21211"


def test_wrong_auth_token_is_permanent_and_not_leaked(fake_twilio: FakeTwilio) -> None:
    with pytest.raises(PermanentDeliveryError) as err:
        sender_for(fake_twilio, token="wrong-token-value").send(page(), TO, thread_ref=None)
    assert err.value.code == "twilio_20003" and "auth_token" in str(err.value)
    assert "wrong-token-value" not in str(err.value)


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (429, None), (400, 20429)])
def test_rate_limits_are_temporary_and_honour_retry_after(
    fake_twilio: FakeTwilio, status: int, code: int | None
) -> None:
    fake_twilio.error(status, code, "Too Many Requests", retry_after=30)
    with pytest.raises(TemporaryDeliveryError) as err:
        sender_for(fake_twilio).send(page(), TO, thread_ref=None)
    assert err.value.retry_after_s == 30
    assert len(fake_twilio.requests) == 1  # twilio-python does not retry, nor do we


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_temporary(fake_twilio: FakeTwilio, status: int) -> None:
    fake_twilio.error(status, None)
    with pytest.raises(TemporaryDeliveryError) as err:
        sender_for(fake_twilio).send(page(), TO, thread_ref=None)
    assert err.value.code == f"http_{status}"


def test_timeout_is_temporary(fake_twilio: FakeTwilio) -> None:
    fake_twilio.slow(delay_s=2.0)
    started = time.monotonic()
    with pytest.raises(TemporaryDeliveryError) as err:
        sender_for(fake_twilio, timeout_s=0.3).send(page(), TO, thread_ref=None)
    assert err.value.code == "timeout" and time.monotonic() - started < 1.5


def test_connection_refused_is_temporary(closed_port: int) -> None:
    sender = TwilioSmsSender(
        "AC" + "0" * 32, Secret("t", "env:T"), from_="+15005550006",
        base_url=f"http://127.0.0.1:{closed_port}",
    )  # fmt: skip
    with pytest.raises(TemporaryDeliveryError) as err:
        sender.send(page(), TO, thread_ref=None)
    assert err.value.code == "connection"


def test_from_config(fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TWILIO_TOKEN", fake_twilio.auth_token)
    config = SmsConfig.model_validate(
        {
            "account_sid": fake_twilio.account_sid,
            "auth_token": "env:TEST_TWILIO_TOKEN",
            "from": "+15005550006",
            "base_url": fake_twilio.url,
        }
    )
    TwilioSmsSender.from_config(config).send(page(), TO, thread_ref=None)
    assert fake_twilio.messages[0]["from"] == "+15005550006"
