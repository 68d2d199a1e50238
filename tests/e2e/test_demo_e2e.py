"""``make run``: ``slawatch run --demo`` on the example config shows an escalation on the console.

The example config has no provider sections, so every notification goes to the console (and the
JSON-lines file). The demo's hotline incident pages the primary on-call at once, so its SMS
rendering must appear on stdout within seconds of readiness; the medium incident's first
threshold (50 % after one minute) is too slow for a test and is left to the demo itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from e2e_harness import Daemon, free_port, poll

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "slawatch.toml"


def test_demo_prints_a_hotline_page_on_the_console(tmp_path: Path) -> None:
    port = free_port()
    text = EXAMPLE.read_text(encoding="utf-8")
    # The example config unchanged, except for a free API port (tests run in parallel).
    config_text, replaced = re.subn(
        r'^listen = "127\.0\.0\.1:8087"', f'listen = "127.0.0.1:{port}"', text, flags=re.M
    )
    assert replaced == 1
    config = tmp_path / "slawatch.toml"
    config.write_text(config_text, encoding="utf-8")
    daemon = Daemon(
        tmp_path,
        config,
        environ={"SLAWATCH_API_TOKEN": "demo-token"},
        api_port=port,
        args=("--demo",),
    ).start()
    try:
        seeded = daemon.wait_event("demo_seeded", timeout_s=60)
        incidents = seeded.data["incidents"]
        assert len(incidents) == 3
        hotline = incidents[2]
        header = daemon.wait_output(f"--- slawatch page {hotline} -> sms ", timeout_s=15)
        assert header.at - seeded.at < 10
        assert "****" in header.text  # the phone number is masked on the console
        # The same page is in the JSON-lines file next to the database.
        jsonl = tmp_path / "var" / "notifications.jsonl"
        records = poll(
            "the page in notifications.jsonl",
            lambda: [
                json.loads(line)
                for line in (jsonl.read_text().splitlines() if jsonl.exists() else [])
                if hotline in line
            ],
            timeout_s=5,
        )
        assert records[0]["channel"] == "sms" and records[0]["stage"] == "page"
        daemon.wait_healthy(timeout_s=30)
    finally:
        code = daemon.stop()
    assert code == 0
