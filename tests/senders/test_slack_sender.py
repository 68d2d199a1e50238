"""The Slack sender, driven through the real slack_sdk WebClient against a local Slack API."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from fakes.slack import FakeSlack
from slawatch.config.schema import SlackConfig
from slawatch.config.secrets import Secret
from slawatch.errors import PermanentDeliveryError, SecretError, TemporaryDeliveryError
from slawatch.render import Renderer, example_context
from slawatch.senders.base import Sender
from slawatch.senders.slack import SlackSender


def sender_for(fake: FakeSlack, token: str | None = None, timeout_s: float = 2) -> SlackSender:
    return SlackSender(
        Secret(token or fake.token, "env:SLACK_BOT_TOKEN"),
        base_url=fake.base_url,
        timeout=timedelta(seconds=timeout_s),
    )


def message(title: str = "Checkout API returns 502", stage: str = "breach"):  # type: ignore[no-untyped-def]
    ctx = example_context(stage)
    ctx["incident"] = {**ctx["incident"], "title": title}
    return Renderer().render(stage, "slack", ctx)


def test_posts_block_kit_with_fallback_text_to_a_channel_by_name(fake_slack: FakeSlack) -> None:
    sender = sender_for(fake_slack)
    assert isinstance(sender, Sender) and sender.channels == {"slack"}
    msg = message()
    result = sender.send(msg, "#support", thread_ref=None)
    [posted] = fake_slack.messages
    assert posted.channel == "C0SUPPORT" and posted.thread_ts is None
    assert posted.text == msg.text
    assert posted.blocks == [dict(b) for b in msg.blocks]
    assert result.provider_message_id == posted.ts and result.thread_ref == posted.ts
    [call] = fake_slack.calls("chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {fake_slack.token}"


def test_later_messages_about_the_incident_go_into_the_thread(fake_slack: FakeSlack) -> None:
    sender = sender_for(fake_slack)
    first = sender.send(message(), "C0SUPPORT", thread_ref=None)
    second = sender.send(message(stage="overdue"), "C0SUPPORT", thread_ref=first.thread_ref)
    assert second.thread_ref == first.thread_ref
    assert second.provider_message_id != first.provider_message_id
    assert [m.thread_ts for m in fake_slack.messages] == [None, first.thread_ref]


def test_direct_message_by_email_looks_up_once_and_opens_the_conversation(
    fake_slack: FakeSlack,
) -> None:
    sender = sender_for(fake_slack)
    sender.send(message(), "Maria@Example.com", thread_ref=None)
    sender.send(message(stage="overdue"), "maria@example.com", thread_ref=None)
    assert len(fake_slack.calls("users.lookupByEmail")) == 1  # cached
    assert len(fake_slack.calls("conversations.open")) == 1
    assert fake_slack.calls("conversations.open")[0].params["users"] == "U0MARIA"
    assert [m.channel for m in fake_slack.messages] == ["D0MARIA", "D0MARIA"]


def test_direct_message_by_user_id(fake_slack: FakeSlack) -> None:
    sender_for(fake_slack).send(message(), "U0IVAN", thread_ref=None)
    assert fake_slack.messages[0].channel == "D0IVAN"
    assert not fake_slack.calls("users.lookupByEmail")


def test_hostile_title_reaches_slack_escaped(fake_slack: FakeSlack) -> None:
    sender_for(fake_slack).send(
        message('<!channel> "quoted"\n🔥 & <@U0BOSS>'), "#support", thread_ref=None
    )
    posted = fake_slack.messages[0]
    raw = fake_slack.calls("chat.postMessage")[0].body.decode()
    assert "<!channel>" not in raw and "<@U0BOSS>" not in raw
    assert '&lt;!channel&gt; "quoted"\n🔥 &amp; &lt;@U0BOSS&gt;' in (posted.text or "")


def test_rate_limit_is_temporary_with_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit(retry_after=42)
    with pytest.raises(TemporaryDeliveryError) as err:
        sender_for(fake_slack).send(message(), "#support", thread_ref=None)
    assert err.value.retry_after_s == 42 and err.value.code == "ratelimited"
    assert len(fake_slack.calls("chat.postMessage")) == 1  # no hidden retries in the sender
    assert not fake_slack.messages


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_temporary(fake_slack: FakeSlack, status: int) -> None:
    fake_slack.server_error(status=status)
    with pytest.raises(TemporaryDeliveryError) as err:
        sender_for(fake_slack).send(message(), "#support", thread_ref=None)
    assert err.value.code == f"http_{status}"
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_timeout_is_temporary(fake_slack: FakeSlack) -> None:
    fake_slack.slow(delay_s=2.0)
    started = time.monotonic()
    with pytest.raises(TemporaryDeliveryError) as err:
        sender_for(fake_slack, timeout_s=0.3).send(message(), "#support", thread_ref=None)
    assert err.value.code == "timeout"
    assert time.monotonic() - started < 1.5


def test_connection_refused_is_temporary(closed_port: int) -> None:
    sender = SlackSender(Secret("xoxb-x", "env:T"), base_url=f"http://127.0.0.1:{closed_port}/api/")
    with pytest.raises(TemporaryDeliveryError) as err:
        sender.send(message(), "#support", thread_ref=None)
    assert err.value.code == "connection"


def test_invalid_auth_is_permanent_and_never_shows_the_token(fake_slack: FakeSlack) -> None:
    with pytest.raises(PermanentDeliveryError) as err:
        sender_for(fake_slack, token="xoxb-wrong-secret").send(
            message(), "#support", thread_ref=None
        )
    assert err.value.code == "invalid_auth"
    assert "check [slack] token" in str(err.value)
    assert "xoxb-wrong-secret" not in str(err.value)


@pytest.mark.parametrize(
    ("address", "code"),
    [("#no-such-channel", "channel_not_found"), ("nobody@example.com", "users_not_found")],
)
def test_unknown_channel_or_user_is_permanent(
    fake_slack: FakeSlack, address: str, code: str
) -> None:
    with pytest.raises(PermanentDeliveryError) as err:
        sender_for(fake_slack).send(message(), address, thread_ref=None)
    assert err.value.code == code and address in str(err.value)


def test_not_in_channel_is_permanent_with_a_hint(fake_slack: FakeSlack) -> None:
    fake_slack.channels["private"] = "C0PRIVATE"  # exists, but the bot is not a member
    with pytest.raises(PermanentDeliveryError) as err:
        sender_for(fake_slack).send(message(), "#private", thread_ref=None)
    assert err.value.code == "not_in_channel" and "/invite" in str(err.value)


def test_rejected_blocks_are_resent_as_plain_text(fake_slack: FakeSlack) -> None:
    fake_slack.error("invalid_blocks")
    result = sender_for(fake_slack).send(message(), "#support", thread_ref=None)
    assert result.provider_message_id
    [posted] = fake_slack.messages
    assert posted.blocks is None and posted.text


def test_from_config_resolves_the_token_reference(
    fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SlackConfig(token="env:TEST_SLACK_TOKEN", base_url=fake_slack.base_url)
    monkeypatch.delenv("TEST_SLACK_TOKEN", raising=False)
    with pytest.raises(SecretError, match="TEST_SLACK_TOKEN"):
        SlackSender.from_config(config)
    monkeypatch.setenv("TEST_SLACK_TOKEN", fake_slack.token)
    sender = SlackSender.from_config(config)
    assert sender.check()["team"] == "Fake"
    sender.send(message(), "#support", thread_ref=None)
    assert len(fake_slack.messages) == 1


def test_missing_thread_parent_starts_a_new_thread(fake_slack: FakeSlack) -> None:
    fake_slack.error("thread_not_found")
    result = sender_for(fake_slack).send(message(), "#support", thread_ref="1600000000.000001")
    [posted] = fake_slack.messages
    assert posted.thread_ts is None and result.thread_ref == posted.ts
