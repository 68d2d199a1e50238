"""``slawatch notify test`` with the real configuration against the local provider servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fakes.slack import FakeSlack
from fakes.smtp import FakeSmtp
from fakes.twilio import FakeTwilio
from slawatch.cli.main import cli

PEOPLE = """
[people.maria]
name = "Maria Petrova"
email = "maria@example.com"
slack = "maria@example.com"
phone = "+359881000001"
"""


def run(tmp_path: Path, config: str, *args: str) -> Result:
    path = tmp_path / "notify.toml"
    path.write_text(config + PEOPLE, encoding="utf-8")
    return CliRunner().invoke(cli, ["notify", "test", *args, "--config", str(path)])


@pytest.fixture
def slack_config(fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_SLACK_TOKEN", fake_slack.token)
    return f'[slack]\ntoken = "env:TEST_SLACK_TOKEN"\nbase_url = "{fake_slack.base_url}"\n'


def test_slack_channel(tmp_path: Path, fake_slack: FakeSlack, slack_config: str) -> None:
    result = run(tmp_path, slack_config, "--channel", "slack", "--to", "#support")
    assert result.exit_code == 0, (result.output, result.stderr)
    assert "sent: slack test message to #support via SlackSender" in result.stdout
    [posted] = fake_slack.messages
    assert posted.channel == "C0SUPPORT" and posted.text == "slawatch test message"
    assert any("slack delivery works" in str(b) for b in posted.blocks)


def test_slack_person_by_email_lookup(
    tmp_path: Path, fake_slack: FakeSlack, slack_config: str
) -> None:
    result = run(tmp_path, slack_config, "--channel", "slack", "--to", "maria")
    assert result.exit_code == 0, result.stderr
    assert fake_slack.messages[0].channel == "D0MARIA"


def test_slack_bad_token_exits_1_and_says_permanent(
    tmp_path: Path, fake_slack: FakeSlack, slack_config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-wrong")
    result = run(tmp_path, slack_config, "--channel", "slack", "--to", "#support")
    assert result.exit_code == 1
    assert "failed (permanent): Slack chat.postMessage to #support: invalid_auth" in result.stderr
    assert "xoxb-wrong" not in result.stderr + result.stdout


def test_slack_rate_limit_exits_1_and_says_temporary(
    tmp_path: Path, fake_slack: FakeSlack, slack_config: str
) -> None:
    fake_slack.rate_limit(retry_after=3)
    result = run(tmp_path, slack_config, "--channel", "slack", "--to", "#support")
    assert result.exit_code == 1 and "temporary, a retry may work" in result.stderr


def test_missing_secret_exits_2_naming_it(
    tmp_path: Path, slack_config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_SLACK_TOKEN")
    result = run(tmp_path, slack_config, "--channel", "slack", "--to", "#support")
    assert result.exit_code == 2 and "TEST_SLACK_TOKEN" in result.stderr


def test_sms_to_a_person_masks_the_number(
    tmp_path: Path, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_TWILIO_TOKEN", fake_twilio.auth_token)
    config = (
        f'[sms]\naccount_sid = "{fake_twilio.account_sid}"\nauth_token = "env:TEST_TWILIO_TOKEN"\n'
        f'from = "+15005550006"\nbase_url = "{fake_twilio.url}"\n'
    )
    result = run(tmp_path, config, "--channel", "sms", "--to", "maria")
    assert result.exit_code == 0, result.stderr
    assert "+359881000001" not in result.stdout and "+35988****001" in result.stdout
    [sent] = fake_twilio.messages
    assert sent["to"] == "+359881000001"
    assert sent["body"] == "slawatch test message for Maria Petrova: SMS delivery works."
    assert sent["sid"] in result.stdout


def test_sms_bad_number_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path, "", "--channel", "sms", "--to", "0888 123")
    assert result.exit_code == 2 and "--to" in result.stderr and "E.164" in result.stderr


def test_email_over_smtp(tmp_path: Path, fake_smtp: FakeSmtp) -> None:
    config = (
        f'[email]\nhost = "127.0.0.1"\nport = {fake_smtp.port}\nsecurity = "none"\n'
        'from = "slawatch <sla@example.com>"\n'
    )
    result = run(tmp_path, config, "--channel", "email", "--to", "lead@example.com")
    assert result.exit_code == 0, result.stderr
    [received] = fake_smtp.received
    assert received.rcpt_tos == ["lead@example.com"]
    assert received.message["Subject"] == "[slawatch] Test message"


def test_email_refused_recipient_exits_1(tmp_path: Path, fake_smtp: FakeSmtp) -> None:
    fake_smtp.refuse("gone@example.com", "550 5.1.1 No such user")
    config = (
        f'[email]\nhost = "127.0.0.1"\nport = {fake_smtp.port}\nsecurity = "none"\n'
        'from = "sla@example.com"\n'
    )
    result = run(tmp_path, config, "--channel", "email", "--to", "gone@example.com")
    assert result.exit_code == 1 and "permanent" in result.stderr and "550" in result.stderr


def test_unconfigured_channel_goes_to_the_console_and_says_so(tmp_path: Path) -> None:
    result = run(tmp_path, "", "--channel", "email", "--to", "maria")
    assert result.exit_code == 0
    assert "[email] is not configured" in result.stderr
    assert "--- slawatch test -> email maria@example.com ---" in result.stdout
    assert "Subject: [slawatch] Test message" in result.stdout
