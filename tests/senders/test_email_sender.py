"""The SMTP sender, driven through smtplib against real aiosmtpd servers."""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fakes.smtp import FakeSmtp
from slawatch.config.schema import EmailConfig
from slawatch.config.secrets import Secret
from slawatch.errors import PermanentDeliveryError, TemporaryDeliveryError
from slawatch.render import Renderer, example_context
from slawatch.render.message import RenderedMessage
from slawatch.senders.base import Sender
from slawatch.senders.email import SmtpEmailSender

FROM = "slawatch <sla@example.com>"
NOW = datetime(2026, 12, 23, 14, 30, tzinfo=UTC)


def sender_for(server: FakeSmtp, security: str = "none", **kw) -> SmtpEmailSender:  # type: ignore[no-untyped-def]
    if server.cert is not None:
        kw.setdefault("ssl_context", server.client_context())
    if server.auth is not None:
        kw.setdefault("username", server.auth[0])
        kw.setdefault("password", Secret(server.auth[1], "env:SMTP_PASSWORD"))
    kw.setdefault("timeout", timedelta(seconds=3))
    return SmtpEmailSender(
        "127.0.0.1", server.port, from_=FROM, security=security, clock=lambda: NOW, **kw
    )


def mail(
    stage: str = "breach", dedupe_key: str | None = "esc:1:resolution:breach:0:lead:email"
) -> RenderedMessage:
    message = Renderer().render(stage, "email", example_context(stage))
    return message.with_meta(dedupe_key=dedupe_key) if dedupe_key else message


def test_plain_smtp_sends_multipart_text_and_html(fake_smtp: FakeSmtp) -> None:
    sender = sender_for(fake_smtp)
    assert isinstance(sender, Sender) and sender.channels == {"email"}
    msg = mail()
    result = sender.send(msg, "lead@example.com", thread_ref=None)
    [received] = fake_smtp.received
    assert received.mail_from == "sla@example.com" and received.rcpt_tos == ["lead@example.com"]
    parsed = received.message
    assert parsed["Subject"] == msg.subject
    assert parsed["From"] == FROM and parsed["To"] == "lead@example.com"
    assert parsed["Date"] == "Wed, 23 Dec 2026 14:30:00 +0000"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Slawatch-Incident"] == "HD-1042"
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    assert "HD-1042" in text.get_content() and "<table" in html.get_content()
    assert result.provider_message_id == parsed["Message-ID"]
    assert result.thread_ref == parsed["Message-ID"]
    assert parsed["Message-ID"].endswith("@example.com>")
    assert received.authenticated_as is None and not received.tls


def test_later_mails_thread_with_in_reply_to_and_references(fake_smtp: FakeSmtp) -> None:
    sender = sender_for(fake_smtp)
    first = sender.send(mail(), "lead@example.com", thread_ref=None)
    later = mail("overdue", "esc:1:resolution:overdue:1:lead:email")
    second = sender.send(later, "lead@example.com", thread_ref=first.thread_ref)
    one, two = (r.message for r in fake_smtp.received)
    assert "In-Reply-To" not in one
    assert two["In-Reply-To"] == one["Message-ID"] and two["References"] == one["Message-ID"]
    assert two["Message-ID"] != one["Message-ID"]
    assert second.thread_ref == first.thread_ref


def test_message_id_is_stable_for_a_resend_of_the_same_outbox_row(fake_smtp: FakeSmtp) -> None:
    sender = sender_for(fake_smtp)
    a = sender.send(mail(), "lead@example.com", thread_ref=None)
    b = sender.send(mail(), "lead@example.com", thread_ref=None)
    c = sender.send(mail(dedupe_key=None), "lead@example.com", thread_ref=None)
    assert a.provider_message_id == b.provider_message_id != c.provider_message_id


def test_text_only_when_the_html_template_failed(fake_smtp: FakeSmtp) -> None:
    msg = mail()
    from dataclasses import replace

    sender_for(fake_smtp).send(replace(msg, html=None), "lead@example.com", thread_ref=None)
    parsed = fake_smtp.received[0].message
    assert parsed.get_content_type() == "text/plain"


def test_starttls_with_auth(fake_smtp_starttls: FakeSmtp) -> None:
    sender_for(fake_smtp_starttls, "starttls").send(mail(), "lead@example.com", thread_ref=None)
    [received] = fake_smtp_starttls.received
    assert received.tls and received.authenticated_as == "alerts"


def test_implicit_tls_with_auth(fake_smtp_tls: FakeSmtp) -> None:
    sender_for(fake_smtp_tls, "tls").send(mail(), "lead@example.com", thread_ref=None)
    [received] = fake_smtp_tls.received
    assert received.tls and received.authenticated_as == "alerts"


def test_wrong_password_is_permanent_and_not_leaked(fake_smtp_starttls: FakeSmtp) -> None:
    sender = sender_for(fake_smtp_starttls, "starttls", password=Secret("bad-pass-xyz", "env:P"))
    with pytest.raises(PermanentDeliveryError) as err:
        sender.send(mail(), "lead@example.com", thread_ref=None)
    assert err.value.code == "smtp_535" and "check [email] username and password" in str(err.value)
    assert "bad-pass-xyz" not in str(err.value)
    assert not fake_smtp_starttls.received


def test_untrusted_certificate_is_permanent(fake_smtp_starttls: FakeSmtp) -> None:
    sender = sender_for(fake_smtp_starttls, "starttls", ssl_context=ssl.create_default_context())
    with pytest.raises(PermanentDeliveryError) as err:
        sender.send(mail(), "lead@example.com", thread_ref=None)
    assert err.value.code == "tls_certificate"


def test_starttls_against_a_server_without_it_is_permanent(fake_smtp: FakeSmtp) -> None:
    with pytest.raises(PermanentDeliveryError) as err:
        sender_for(fake_smtp, "starttls").send(mail(), "lead@example.com", thread_ref=None)
    assert err.value.code == "smtp_unsupported"


def test_451_for_a_recipient_is_temporary(fake_smtp: FakeSmtp) -> None:
    fake_smtp.refuse("busy@example.com", "451 4.3.0 Mailbox temporarily unavailable")
    with pytest.raises(TemporaryDeliveryError) as err:
        sender_for(fake_smtp).send(mail(), "busy@example.com", thread_ref=None)
    assert err.value.code == "smtp_451" and "busy@example.com" in str(err.value)
    assert not fake_smtp.received


def test_550_for_a_recipient_is_permanent(fake_smtp: FakeSmtp) -> None:
    fake_smtp.refuse("gone@example.com", "550 5.1.1 No such user")
    with pytest.raises(PermanentDeliveryError) as err:
        sender_for(fake_smtp).send(mail(), "gone@example.com", thread_ref=None)
    assert err.value.code == "smtp_550" and "No such user" in str(err.value)


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("451 4.7.1 Greylisted", TemporaryDeliveryError),
        ("554 5.7.1 Rejected as spam", PermanentDeliveryError),
    ],
)
def test_data_refusal_is_classified_by_code(fake_smtp: FakeSmtp, reply: str, kind: type) -> None:
    fake_smtp.data_reply = reply
    with pytest.raises(kind) as err:
        sender_for(fake_smtp).send(mail(), "lead@example.com", thread_ref=None)
    assert err.value.code == f"smtp_{reply[:3]}"


def test_connection_refused_is_temporary(closed_port: int) -> None:
    sender = SmtpEmailSender("127.0.0.1", closed_port, from_=FROM, security="none")
    with pytest.raises(TemporaryDeliveryError) as err:
        sender.send(mail(), "lead@example.com", thread_ref=None)
    assert err.value.code == "connection"


def test_timeout_is_temporary(fake_smtp: FakeSmtp) -> None:
    fake_smtp.data_delay_s = 2.0
    started = time.monotonic()
    with pytest.raises(TemporaryDeliveryError) as err:
        sender_for(fake_smtp, timeout=timedelta(seconds=0.4)).send(
            mail(), "lead@example.com", thread_ref=None
        )
    assert err.value.code == "timeout" and time.monotonic() - started < 1.8


def test_header_injection_in_the_address_is_refused(fake_smtp: FakeSmtp) -> None:
    with pytest.raises(PermanentDeliveryError) as err:
        sender_for(fake_smtp).send(mail(), "a@example.com\r\nBcc: x@evil.example", thread_ref=None)
    assert err.value.code == "invalid_address"
    assert not fake_smtp.received


def test_from_config(
    fake_smtp_starttls: FakeSmtp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "smtp-secret")
    config = EmailConfig.model_validate(
        {"host": "127.0.0.1", "port": fake_smtp_starttls.port, "security": "starttls",
         "username": "alerts", "password": "env:TEST_SMTP_PASSWORD", "from": FROM}
    )  # fmt: skip
    sender = SmtpEmailSender.from_config(config, ssl_context=fake_smtp_starttls.client_context())
    sender.send(mail(), "lead@example.com", thread_ref=None)
    assert fake_smtp_starttls.received[0].authenticated_as == "alerts"


def test_non_latin_title_and_emoji_survive_the_trip(fake_smtp: FakeSmtp) -> None:
    ctx = example_context("breach")
    title = "Сървърът не отговаря 🔥 <b>"
    ctx["incident"] = {**ctx["incident"], "title": title}
    message = Renderer().render("breach", "email", ctx)
    sender_for(fake_smtp).send(message, "lead@example.com", thread_ref=None)
    parsed = fake_smtp.received[0].message
    assert title in parsed["Subject"]
    assert title in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "&lt;b&gt;" in parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert fake_smtp.received[0].data.isascii()  # encoded for any 7-bit relay
