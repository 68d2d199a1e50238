"""The embedded console and JSON-lines senders."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

from slawatch.render import Renderer, example_context
from slawatch.senders.base import Sender, mask_address, mask_phone
from slawatch.senders.console import ConsoleSender
from slawatch.senders.jsonl import JsonlSender, read_jsonl


def test_mask_phone_keeps_country_code_and_last_three() -> None:
    assert mask_phone("+359881234567") == "+35988****567"
    assert mask_address("sms", "+15005550006") == "+1500****006"
    assert "+359881234567" not in mask_address("email", "call +359881234567")


def test_console_prints_a_readable_slack_message_with_mentions_shown_not_escaped() -> None:
    ctx = example_context("breach")
    ctx["incident"] = {**ctx["incident"], "title": "<!channel> & db"}
    out = io.StringIO()
    sender = ConsoleSender(stream=out)
    assert isinstance(sender, Sender)
    result = sender.send(Renderer().render("breach", "slack", ctx), "#support", thread_ref=None)
    text = out.getvalue()
    assert result.provider_message_id and result.thread_ref is None
    assert text.startswith("--- slawatch breach HD-1042 -> slack #support ---")
    assert "Account: ACME Corp (enterprise)" in text
    assert "<!channel> & db" in text


def test_console_masks_phone_numbers_and_shows_the_sms_text() -> None:
    out = io.StringIO()
    message = Renderer().render("page", "sms", example_context("page"))
    ConsoleSender(stream=out).send(message, "+359881234567", thread_ref=None)
    assert "+359881234567" not in out.getvalue()
    assert "+35988****567" in out.getvalue()
    assert message.sms in out.getvalue()


def test_jsonl_appends_one_complete_record_per_message_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.jsonl"
    sender = JsonlSender(path)
    message = Renderer().render("breach", "email", example_context("breach"))

    def work() -> None:
        for _ in range(25):
            sender.send(message.with_meta(dedupe_key="k1"), "lead@example.com", thread_ref="t")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = read_jsonl(path)
    assert len(records) == 100
    first = records[0]
    assert first["channel"] == "email" and first["stage"] == "breach"
    assert first["address"] == "lead@example.com" and first["dedupe_key"] == "k1"
    assert first["incident_id"] == "HD-1042" and first["thread_ref"] == "t"
    assert first["subject"] == message.subject
    assert len({r["id"] for r in records}) == 100
    json.loads(path.read_text().splitlines()[-1])


def test_jsonl_reader_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"a": 1}\n{"b": ', encoding="utf-8")
    assert read_jsonl(path) == [{"a": 1}]
