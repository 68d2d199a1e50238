"""A daemon configuration wired to the fake provider servers, shared by the daemon's tests.

Unit tests (escalation service, dispatcher) load it with :func:`load_settings`; the end-to-end
tests write it next to a real ``slawatch run`` process. Everything runs on the built-in
``24x7`` calendar, so no delivery-hours hold ever applies and business time equals wall time.

Recipients (matching the fakes' built-in directory):

* the team channel ``#support`` (FakeSlack: ``C0SUPPORT``);
* ``maria``, the CSM: Slack by email ``maria@example.com`` (``U0MARIA``), email, phone;
* ``ivan``, primary on-call: Slack ``U0IVAN``, phone ``+359881000002``;
* ``lead`` (support lead) and ``manager`` (support manager): email (the manager also a phone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slawatch.config.loader import Settings, load_config

SLACK_TOKEN = "xoxb-test-token"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-secret"
API_TOKEN = "e2e-api-token-0123456789abcdef"

#: Secrets by ``env:`` reference, never in the file.
ENVIRON = {
    "SLACK_BOT_TOKEN": SLACK_TOKEN,
    "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    "SLAWATCH_API_TOKEN": API_TOKEN,
}

IVAN_PHONE = "+359881000002"
MANAGER_PHONE = "+359881000009"


def config_text(
    *,
    slack_url: str | None = None,
    twilio_url: str | None = None,
    smtp_port: int | None = None,
    api_listen: str = "127.0.0.1:8087",
    api_enabled: bool = False,
    scan_interval: str = "30s",
    dispatch_interval: str = "2s",
    channel_rate: str = "{ slack = 50, email = 120, sms = 60 }",
    recipient_rate: str = "{ slack = 20, email = 20, sms = 12 }",
    jsonl_path: str | None = None,
    page_repeat: str = "5m",
    extra: str = "",
) -> str:
    """The TOML text; a provider section is included only when its fake's address is given."""
    providers = ""
    if slack_url is not None:
        providers += f'\n[slack]\ntoken = "env:SLACK_BOT_TOKEN"\nbase_url = "{slack_url}"\n'
        providers += 'timeout = "20s"\n'
    if twilio_url is not None:
        providers += (
            f'\n[sms]\naccount_sid = "{TWILIO_SID}"\nauth_token = "env:TWILIO_AUTH_TOKEN"\n'
            f'from = "+15005550006"\nbase_url = "{twilio_url}"\ntimeout = "20s"\n'
        )
    if smtp_port is not None:
        providers += (
            f'\n[email]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
            'from = "slawatch <sla@example.com>"\ntimeout = "20s"\n'
        )
    output = f'\n[output]\nconsole = true\njsonl_path = "{jsonl_path}"\n' if jsonl_path else ""
    return f"""
[people.maria]
name = "Maria Petrova"
email = "maria@example.com"
slack = "maria@example.com"
phone = "+359881000001"

[people.ivan]
name = "Ivan Georgiev"
email = "ivan@example.com"
slack = "U0IVAN"
phone = "{IVAN_PHONE}"

[people.lead]
name = "Support Lead"
email = "lead@example.com"

[people.manager]
name = "Support Manager"
email = "manager@example.com"
phone = "{MANAGER_PHONE}"

[roles]
support_lead = "lead"
support_manager = "manager"
team_channel = "#support"

[oncall]
people = ["ivan", "maria"]
handoff = "mon 09:00"
timezone = "UTC"
page_repeat = "{page_repeat}"
# ivan is primary (and maria secondary) whatever the week, so tests know who is paged.
overrides = [{{ start = "2026-01-01", end = "2030-12-31", person = "ivan" }}]

[daemon]
scan_interval = "{scan_interval}"
dispatch_interval = "{dispatch_interval}"
shutdown_timeout = "3s"

[delivery]
fallback = {{ slack = ["email"], email = ["slack"], sms = ["email"] }}
max_attempts = 5
retry_initial = "1s"
retry_max = "10s"
channel_rate_per_minute = {channel_rate}
recipient_rate_per_minute = {recipient_rate}

[api]
enabled = {"true" if api_enabled else "false"}
listen = "{api_listen}"
tokens = ["env:SLAWATCH_API_TOKEN"]

[logging]
level = "info"
format = "json"
{output}{providers}{extra}
"""


def write_config(path: Path, **kwargs: Any) -> Path:
    path.write_text(config_text(**kwargs), encoding="utf-8")
    return path


def load_settings(path: Path, **kwargs: Any) -> Settings:
    write_config(path, **kwargs)
    return load_config(str(path), ENVIRON)


#: A premium ("Custom SLA") account on the 24x7 calendar with targets of minutes.
ACME = {
    "name": "ACME Corp",
    "plan": "premium",
    "calendar": "24x7",
    "csm": "maria",
    "sla": {
        "high": {"workaround": "20m", "resolution": "-"},
        "medium": {"response": "10m", "workaround": "-", "resolution": "-"},
        "low": {"response": "30m", "workaround": "-", "resolution": "-"},
    },
}
