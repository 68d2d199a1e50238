"""The built-in templates, user overrides, escaping and fallbacks, rendered for real."""

# ruff: noqa: RUF001  (non-Latin titles on purpose)
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from slawatch.render import Renderer, build_context, example_context
from slawatch.render.sms import GSM7_SINGLE, UCS2_SINGLE, gsm7_length, is_gsm7, segments
from slawatch.senders.base import STAGES

CHANNELS = ("email", "slack", "sms")
TEMPLATES = Path(__file__).resolve().parents[2] / "daemon" / "slawatch" / "templates"


def hostile(title: str, stage: str = "breach") -> dict[str, Any]:
    ctx = example_context(stage)
    ctx["incident"] = {**ctx["incident"], "title": title}
    return ctx


def all_texts(value: Any) -> list[str]:
    """Every string inside a Block Kit structure."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in all_texts(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in all_texts(v)]
    return []


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_every_builtin_template_renders_without_fallback(stage: str, channel: str) -> None:
    message = Renderer().render(stage, channel, example_context(stage))
    assert not message.fallback, message.template_errors
    assert message.text.strip()
    if channel == "email":
        assert message.subject and "\n" not in message.subject
        assert message.html and message.html.lstrip().startswith("<!DOCTYPE html>")
    if channel == "slack":
        assert message.blocks and all("type" in b for b in message.blocks)
        json.dumps(list(message.blocks))
    if channel == "sms":
        assert segments(message.sms) == 1 and is_gsm7(message.sms)


def test_every_stage_has_every_channel_file() -> None:
    for stage in STAGES:
        for name in (
            f"email/{stage}.subject.j2",
            f"email/{stage}.txt.j2",
            f"email/{stage}.html.j2",
            f"slack/{stage}.json.j2",
            f"sms/{stage}.txt.j2",
        ):
            assert (TEMPLATES / name).is_file(), name


def test_incident_facts_show_due_in_both_time_zones_and_the_link() -> None:
    message = Renderer().render("warning", "email", example_context("warning"))
    # due 2026-12-23 16:45 UTC: 18:45 in Sofia (recipient), 11:45 in New York (account)
    assert "Wed 23 Dec 2026, 18:45 EET (UTC+02:00)" in message.text
    assert "Wed 23 Dec 2026, 11:45 EST (UTC-05:00) for the account" in message.text
    assert "2 hours 15 minutes of business time" in message.text
    assert "https://helpdesk.example.com/tickets/HD-1042" in message.text
    assert 'href="https://helpdesk.example.com/tickets/HD-1042"' in (message.html or "")
    assert "On call:   Ivan Georgiev (secondary: Maria Petrova)" in message.text


@pytest.mark.parametrize(
    "title",
    [
        "<!channel> db down",
        "<!here|here> & <@U0123ABC> <https://evil.example|click>",
        'He said "stop"\nnew line\ttab \\ backslash',
        "🔥🔥 prod on fire 🚒 \u200d\u2764\ufe0f",
        '}]}, {"type": "section"',
    ],
)
def test_slack_hostile_titles_stay_valid_json_and_ping_nobody(title: str) -> None:
    message = Renderer().render("breach", "slack", hostile(title))
    assert not message.fallback, message.template_errors
    texts = [*all_texts(list(message.blocks)), message.text]
    joined = "\n".join(texts)
    for text in texts:
        # a mention or link needs a raw '<'; any '<' left must be one of our own links
        assert "<!" not in text and "<@" not in text
    if "<" in title:
        assert "&lt;" in joined
    if "&" in title:
        assert "&amp;" in joined
    # the title survives, escaped, in the mrkdwn text (quotes/newlines/emoji intact)
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in message.text
    assert len([b for b in message.blocks if b["type"] == "section"]) == 3


def test_slack_header_is_plain_text_and_not_mrkdwn_escaped() -> None:
    ctx = example_context("breach")
    ctx["incident"] = {**ctx["incident"], "id": "A&B<1>"}
    message = Renderer().render("breach", "slack", ctx)
    header = message.blocks[0]
    assert header["type"] == "header"
    assert header["text"] == {"type": "plain_text", "text": "SLA breached: A&B<1>", "emoji": True}


def test_html_email_escapes_the_title_and_text_part_keeps_it() -> None:
    title = '<script>alert("x")</script> & <b>bold</b>'
    message = Renderer().render("breach", "email", hostile(title))
    assert not message.fallback
    assert "<script>" not in (message.html or "")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in (message.html or "")
    assert title in message.text
    assert title in message.subject


def test_email_subject_is_one_line_even_with_newlines_in_the_title() -> None:
    message = Renderer().render("breach", "email", hostile("line one\r\nBcc: victim@example.com"))
    assert "\n" not in message.subject and "\r" not in message.subject
    assert "line one Bcc: victim@example.com" in message.subject


def test_very_long_title_is_cut_within_every_channel_limit() -> None:
    title = "Everything is broken " * 600  # ~12,600 characters
    renderer = Renderer()
    slack = renderer.render("breach", "slack", hostile(title))
    assert not slack.fallback
    for block in slack.blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 3000
    assert len(slack.text) <= 4000
    email = renderer.render("breach", "email", hostile(title))
    assert len(email.subject) <= 200
    sms = renderer.render("breach", "sms", hostile(title))
    assert gsm7_length(sms.sms) <= GSM7_SINGLE
    for must in ("HD-1042", "high", "Wed 23 Dec 13:20 EET"):
        assert must in sms.sms
    assert "Everything is broken" in sms.sms and sms.sms.endswith("...")


def test_sms_cyrillic_title_is_transliterated_into_one_gsm_segment() -> None:
    sms = Renderer().render(
        "page", "sms", hostile("Сървърът в София не отговаря – „спешно“", "page")
    )
    assert is_gsm7(sms.sms) and gsm7_length(sms.sms) <= GSM7_SINGLE
    assert 'Sarvarat v Sofiya ne otgovarya - "speshno"' in sms.sms


def test_sms_chinese_title_uses_ucs2_and_fits_70() -> None:
    ctx = hostile("数据库宕机，所有客户无法登录系统，请立即处理此问题" * 3, "page")
    sms = Renderer().render("page", "sms", ctx)
    assert not is_gsm7(sms.sms)
    assert len(sms.sms.encode("utf-16-le")) // 2 <= UCS2_SINGLE
    assert "HD-1042" in sms.sms and "high" in sms.sms and "18:45" in sms.sms
    assert "ACME Corp: 数" in sms.sms  # the fixed part leaves room for one character + "..."


def test_sms_that_cannot_fit_keeps_everything_in_several_segments() -> None:
    ctx = hostile("short title", "page")
    ctx["incident"] = {**ctx["incident"], "id": "X" * 200}
    sms = Renderer().render("page", "sms", ctx)
    assert "X" * 200 in sms.sms and "short title" in sms.sms
    assert segments(sms.sms) > 1


def test_sms_cuts_the_account_name_after_the_title() -> None:
    ctx = hostile("T" * 300, "page")
    ctx["account"] = {**ctx["account"], "name": "N" * 300}
    sms = Renderer().render("page", "sms", ctx)
    assert segments(sms.sms) == 1
    assert "HD-1042" in sms.sms and "18:45 EET" in sms.sms
    assert "TTT" not in sms.sms and "NNN" in sms.sms


# ----------------------------------------------------------------------------- user overrides
def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_user_directory_overrides_a_template_by_name(tmp_path: Path) -> None:
    write(tmp_path, "sms/breach.txt.j2", "CUSTOM {{ incident.id }} {{ incident.priority }}")
    renderer = Renderer(templates_dir=tmp_path)
    assert renderer.render("breach", "sms", example_context("breach")).sms == "CUSTOM HD-1042 high"
    # templates not overridden still come from the package
    assert renderer.render("warning", "sms", example_context("warning")).sms.startswith("SLA WARN")


def test_user_directory_overrides_a_shared_partial(tmp_path: Path) -> None:
    write(tmp_path, "partials/incident_facts.txt.j2", "FACTS for {{ account.name }}")
    message = Renderer(templates_dir=tmp_path).render("breach", "email", example_context("breach"))
    assert "FACTS for ACME Corp" in message.text
    assert "Assignee:" not in message.text


BROKEN = {
    "syntax": "{% if %}",
    "undefined": "{{ incident.no_such_field }}",
    "undefined_top": "{{ nonsense }}",
    "filter": "{{ incident.title|no_such_filter }}",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
@pytest.mark.parametrize("channel", CHANNELS)
def test_broken_template_falls_back_to_builtin_text_and_logs(
    tmp_path: Path, kind: str, channel: str
) -> None:
    name = {
        "email": "email/breach.txt.j2",
        "slack": "slack/breach.json.j2",
        "sms": "sms/breach.txt.j2",
    }
    write(tmp_path, name[channel], BROKEN[kind])
    with capture_logs() as logs:
        message = Renderer(templates_dir=tmp_path).render(
            "breach", channel, example_context("breach")
        )
    assert message.fallback
    assert message.template_errors and name[channel] in message.template_errors[0]
    body = message.sms if channel == "sms" else message.text
    assert "HD-1042" in body and "high" in body and "SLA breached" in body
    assert any(e["event"] == "template_failed" and e["channel"] == channel for e in logs)
    if channel == "email":
        # the other parts still come from their (working) templates
        assert message.subject.startswith("[slawatch] SLA breached")
        assert message.html


def test_slack_template_producing_invalid_json_falls_back(tmp_path: Path) -> None:
    write(tmp_path, "slack/breach.json.j2", '{"text": "{{ incident.id }}", "blocks": [}')
    message = Renderer(templates_dir=tmp_path).render("breach", "slack", hostile("<!channel>"))
    assert message.fallback and message.blocks == ()
    assert "&lt;!channel&gt;" in message.text and "<!channel>" not in message.text


def test_slack_template_with_wrong_shape_falls_back(tmp_path: Path) -> None:
    write(tmp_path, "slack/breach.json.j2", "[1, 2, 3]")
    message = Renderer(templates_dir=tmp_path).render("breach", "slack", example_context("breach"))
    assert message.fallback and "HD-1042" in message.text


def test_unknown_stage_falls_back_instead_of_raising() -> None:
    message = Renderer().render("no_such_stage", "sms", example_context("breach"))
    assert message.fallback and "HD-1042" in message.sms


def test_fallback_survives_a_nearly_empty_context() -> None:
    message = Renderer().render("breach", "email", {"incident": None, "due": 5})
    assert message.fallback and message.text.startswith("[slawatch] SLA breached")


def test_renderer_takes_template_dir_and_link_from_settings(tmp_path: Path) -> None:
    from slawatch.config.loader import build_settings

    write(tmp_path, "sms/test.txt.j2", "from the user dir")
    settings = build_settings(
        {"templates": {"dir": str(tmp_path)}, "links": {"incident_url": "https://x/{id}/view"}},
        None,
    )
    renderer = Renderer(settings)
    assert renderer.render("test", "sms", {"incident": {}}).sms == "from the user dir"
    assert renderer.incident_url == "https://x/{id}/view"


# ------------------------------------------------------------------------------ the context
def test_context_from_json_payload_values_and_dst() -> None:
    # Sunday 29 March 2026: Europe/Sofia switches from EET to EEST at 03:00 local
    ctx = build_context(
        "breach",
        now="2026-03-29T10:00:00Z",
        incident={
            "id": "HD-7",
            "title": "t",
            "priority": "medium",
            "opened_at": "2026-03-27T08:00Z",
        },
        account={"id": "acme", "name": "ACME", "plan": "business", "timezone": "America/New_York"},
        status={
            "target": "response",
            "state": "breached",
            "due_at": "2026-03-29T00:30:00+00:00",
            "remaining_s": -(9 * 3600 + 1800),
        },
        recipient={"name": "Maria", "timezone": "Europe/Sofia"},
        business_day=timedelta(hours=9),
        incident_url="https://hd.example/t/{id}",
    )
    assert ctx["due"]["recipient"] == "Sun 29 Mar 02:30 EET"
    assert ctx["due"]["account"] == "Sat 28 Mar 20:30 EDT"
    assert ctx["target"]["overdue"] is True
    assert ctx["target"]["remaining_words"] == "1 business day 30 minutes"
    assert ctx["link"] == "https://hd.example/t/HD-7"
    assert ctx["incident"]["opened_at"] == datetime(2026, 3, 27, 8, 0, tzinfo=UTC)


def test_context_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        build_context("test", now=datetime(2026, 1, 1))


def test_catchup_names_the_stage_it_stands_for() -> None:
    ctx = example_context("catchup")
    ctx["catchup"] = {"covers": "breach", "missed": ["resolution:w50#0", "resolution:w75#0"]}
    message = Renderer().render("catchup", "email", ctx)
    assert not message.fallback
    assert "stands for the breach notification and 2 earlier step(s)" in message.text


def test_meeting_payload_as_stored_json_renders() -> None:
    """The meetings job stores dates as ISO strings in the outbox payload."""
    ctx = build_context(
        "meeting_reminder",
        now="2026-12-23T07:00:00Z",
        account={"id": "acme", "name": "ACME", "plan": "enterprise", "csm": "Maria"},
        recipient={"name": "Maria", "timezone": "Europe/Sofia"},
        extra={"meeting": {"due_on": "2027-01-06", "last_held_on": None, "cadence": "quarterly",
                           "days": 14}, "reason": "alignment meeting due"},
    )  # fmt: skip
    renderer = Renderer()
    email = renderer.render("meeting_reminder", "email", ctx)
    assert not email.fallback, email.template_errors
    assert email.subject == "[slawatch] Alignment meeting due for ACME on Wed 6 Jan 2027"
    assert "in 14 days" in email.text
    slack = renderer.render("meeting_reminder", "slack", ctx)
    assert not slack.fallback and "Wed 6 Jan 2027" in str(slack.blocks)


@pytest.mark.parametrize("channel", CHANNELS)
def test_template_syntax_in_a_title_is_data_not_code(channel: str) -> None:
    message = Renderer().render("breach", channel, hostile("{{ 7*7 }} {% raw %}x"))
    assert not message.fallback
    body = {"email": message.text, "slack": message.text, "sms": message.sms}[channel]
    assert "{{ 7*7 }} {% raw %}x" in body and "49" not in body


def test_check_reports_a_missing_dir_and_templates_that_do_not_compile(tmp_path: Path) -> None:
    assert Renderer().check() == []
    assert "is not a directory" in Renderer(templates_dir=tmp_path / "nope").check()[0]
    write(tmp_path, "sms/breach.txt.j2", "{% if %}")
    write(tmp_path, "sms/warning.txt.j2", "fine {{ incident.id }}")
    [problem] = Renderer(templates_dir=tmp_path).check()
    assert problem.startswith("templates.dir: sms/breach.txt.j2: TemplateSyntaxError")


def test_sms_puts_a_multi_line_title_on_one_line() -> None:
    sms = Renderer().render("page", "sms", hostile("first line\r\n\tsecond   line", "page")).sms
    assert "first line second line" in sms and "\n" not in sms
