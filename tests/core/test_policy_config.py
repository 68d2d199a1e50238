"""The policy fed from a real configuration: rule validation and the config -> context bridge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slawatch.config.loader import build_settings
from slawatch.config.policy_context import policy_context
from slawatch.core.incident import IncidentHistory
from slawatch.core.policy import DEFAULT_RULES, IncidentSnapshot, decide
from slawatch.errors import ConfigError

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

BASE: dict[str, Any] = {
    "default_calendar": "24x7",
    "plans": {"enterprise": {"targets": {"medium": {"response": "4h"}}}},
    "people": {"maria": {"email": "maria@example.com", "slack": "U0MARIA", "calendar": "24x7"}},
    "roles": {"team_channel": "#support", "support_manager": "maria"},
    "oncall": {"people": ["maria"], "page_repeat": "2m"},
    "sla": {"hotline_ack_within": "10m"},
    "daemon": {"scan_interval": "10m"},
}


def settings_with(rules: list[dict[str, Any]] | None) -> Any:
    data = dict(BASE)
    if rules is not None:
        data["escalation"] = {"rules": rules}
    return build_settings(data, None)


def test_alternatives_are_validated_part_by_part() -> None:
    settings_with([{"when": "75%", "notify": ["csm|team", "maria|#ops"]}])
    with pytest.raises(ConfigError) as info:
        settings_with([{"when": "75%", "notify": ["csm|nobody"]}])
    (problem,) = info.value.problems
    assert "escalation.rules[0].notify" in problem and "'nobody'" in problem


def test_duplicate_rule_names_are_refused() -> None:
    rules = [
        {"name": "x", "when": "50%", "notify": ["team"]},
        {"name": "x", "when": "90%", "notify": ["team"]},
    ]
    with pytest.raises(ConfigError) as info:
        settings_with(rules)
    assert any(
        "escalation.rules[1].name: duplicate rule name 'x'" in p for p in info.value.problems
    )


def test_context_from_settings_uses_config_values() -> None:
    ctx = policy_context(settings_with(None))
    assert ctx.effective_rules == DEFAULT_RULES
    assert ctx.hotline_ack_within == timedelta(minutes=10)
    assert ctx.page_repeat == timedelta(minutes=2)
    assert ctx.catch_up_grace == timedelta(minutes=20)  # twice the scan interval
    assert ctx.default_calendar == "24x7"


def test_config_rules_drive_decide() -> None:
    settings = settings_with(
        [
            {
                "name": "early",
                "when": "breach",
                "notify": ["csm|team"],
                "channels": ["slack"],
                "repeat": "1h",
            }
        ]
    )
    ctx = policy_context(settings)
    history = IncidentHistory(opened_at=T0, priority="medium")
    incident = IncidentSnapshot(
        "9",
        history,
        settings.plan("enterprise"),
        settings.calendar(None),
        account="acme",
        csm="maria",
    )
    ev = decide(incident, ctx, T0 + timedelta(hours=4))
    assert [(n.step, n.stage, n.recipient) for n in ev.notices] == [("early", "breach", "maria")]
    assert ev.next_check_at == T0 + timedelta(hours=5)


def test_an_empty_rule_list_means_no_rules_and_absent_means_defaults() -> None:
    assert policy_context(settings_with([])).effective_rules == ()
    assert policy_context(settings_with(None)).effective_rules == DEFAULT_RULES
