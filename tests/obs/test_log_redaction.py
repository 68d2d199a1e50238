"""Log format and redaction, checked on the real rendered output of the real handlers."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog

from slawatch.config.secrets import resolve_secret
from slawatch.obs.logging import (
    REDACTED,
    clear_secrets,
    configure_logging,
    get_logger,
    mask_phone,
    redact_text,
    register_secret,
)

PHONE = "+359881234567"
MASKED = "+35988****567"
TWILIO_TOKEN = "f3c1d2e4b5a6978877665544332211aa"
SLACK_TOKEN = "xoxb-1234567890-abcdefghijklmnop"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    clear_secrets()
    yield
    clear_secrets()
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    structlog.reset_defaults()


def json_lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mask_phone() -> None:
    assert mask_phone("+359881234567") == "+35988****567"
    assert mask_phone("+14155550123") == "+1415****123"
    assert mask_phone("+35988123") == "+3****123"
    assert mask_phone("not a phone") == "not a phone"
    assert mask_phone("+123") == "+123"


def test_json_lines_carry_event_level_logger_and_bound_ids() -> None:
    buf = io.StringIO()
    configure_logging("info", "auto", stream=buf)  # a StringIO is no terminal: JSON
    log = get_logger("slawatch.dispatch", incident_id=17)
    with structlog.contextvars.bound_contextvars(notification_id=99):
        log.info("sent", channel="slack", target="resolution", stage="75%", duration_ms=12.5)
    log.debug("hidden at info level")
    [line] = json_lines(buf)
    assert line["event"] == "sent"
    assert line["level"] == "info"
    assert line["logger"] == "slawatch.dispatch"
    assert line["incident_id"] == 17 and line["notification_id"] == 99
    assert line["channel"] == "slack" and line["duration_ms"] == 12.5
    assert line["timestamp"].endswith("Z")


def test_console_format_on_a_terminal_is_coloured_and_not_json() -> None:
    buf = Tty()
    configure_logging("info", "auto", stream=buf)
    get_logger("slawatch.scan").info("scan done", due=3, phone=PHONE)
    text = buf.getvalue()
    assert "scan done" in text and "\x1b[" in text
    assert MASKED in text and PHONE not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_format_json_forced_even_on_a_terminal() -> None:
    buf = Tty()
    configure_logging("warning", "json", stream=buf)
    get_logger("x").warning("careful")
    assert json_lines(buf)[0]["level"] == "warning"


def test_secrets_by_key_by_registry_and_by_pattern() -> None:
    buf = io.StringIO()
    configure_logging("debug", "json", stream=buf)
    secret = resolve_secret("env:TW", {"TW": TWILIO_TOKEN})
    register_secret(secret)
    log = get_logger("slawatch.senders")
    log.info("config", password="hunter2", auth_token="whatever1", api_key="k-123456")
    log.info("request", headers={"Authorization": "Basic QUM6c2VjcmV0", "Accept": "json"})
    log.info(f"free text with {TWILIO_TOKEN} and Authorization: Bearer abc.def.ghi123")
    log.info("client", secret=secret, url="postgresql+psycopg://sw:pgpass123@db/slawatch")
    log.info("slack", detail=f"token {SLACK_TOKEN} rejected", body=f"To={PHONE}&Body=hi")
    out = buf.getvalue()
    for leaked in (
        "hunter2",
        "whatever1",
        "k-123456",
        "QUM6c2VjcmV0",
        TWILIO_TOKEN,
        "abc.def.ghi123",
        "pgpass123",
        SLACK_TOKEN,
        PHONE,
    ):
        assert leaked not in out, leaked
    lines = json_lines(buf)
    assert lines[0]["password"] == REDACTED
    assert lines[1]["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert lines[3]["url"] == f"postgresql+psycopg://sw:{REDACTED}@db/slawatch"
    assert lines[4]["body"] == f"To={MASKED}&Body=hi"


def test_secrets_never_appear_in_exception_tracebacks() -> None:
    for fmt, stream in (("json", io.StringIO()), ("console", Tty())):
        clear_secrets()
        configure_logging("info", fmt, stream=stream)
        register_secret(TWILIO_TOKEN)
        log = get_logger("slawatch.senders.sms")

        def send(auth_token: str, to: str) -> None:
            raise ConnectionError(f"401 for token {auth_token} sending to {to}")

        try:
            send(TWILIO_TOKEN, PHONE)
        except ConnectionError:
            log.exception("send failed", to=PHONE)
        out = stream.getvalue()
        assert "Traceback" in out and "ConnectionError" in out, fmt
        assert TWILIO_TOKEN not in out, fmt
        assert PHONE not in out and MASKED in out, fmt
        if fmt == "json":
            (line,) = json_lines(stream)  # still valid JSON after redaction
            assert REDACTED in line["exception"]


def test_stdlib_loggers_are_json_and_redacted() -> None:
    buf = io.StringIO()
    configure_logging("info", "json", stream=buf)
    register_secret("pa55word!")
    with structlog.contextvars.bound_contextvars(job="scan"):
        logging.getLogger("apscheduler.scheduler").warning("job %s raised: %s", "scan", "pa55word!")
    logging.getLogger("uvicorn.error").info("Started server process")
    lines = json_lines(buf)
    assert lines[0]["logger"] == "apscheduler.scheduler"
    assert lines[0]["event"] == f"job scan raised: {REDACTED}" and lines[0]["job"] == "scan"
    assert lines[1]["logger"] == "uvicorn.error" and lines[1]["level"] == "info"


def test_url_encoded_and_json_escaped_forms_of_a_secret_are_scrubbed() -> None:
    register_secret('a"b c/d+e')
    assert "a%22b%20c%2Fd%2Be" not in redact_text("x=a%22b%20c%2Fd%2Be")
    assert "a%22b+c%2Fd%2Be" not in redact_text("x=a%22b+c%2Fd%2Be")
    assert redact_text('{"v": "a\\"b c/d+e"}') == '{"v": "' + REDACTED + '"}'
    assert redact_text("call %2B359881234567 now") == "call %2B35988****567 now"


# ------------------------------------------------------------------ real library clients
class _Provider(BaseHTTPRequestHandler):
    """Answers like Twilio's Messages endpoint and Slack's chat.postMessage."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if "Messages.json" in self.path:
            body = {"sid": "SM00000000000000000000000000000001", "status": "queued", "to": PHONE}
            status = 201
        else:
            body = {"ok": True, "channel": "C1", "ts": "1.2"}
            status = 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_twilio_and_slack_debug_logging_leaks_nothing(provider: str) -> None:
    from slack_sdk import WebClient
    from twilio.rest import Client

    buf = io.StringIO()
    configure_logging("debug", "json", stream=buf)
    register_secret(TWILIO_TOKEN)
    register_secret(SLACK_TOKEN)

    twilio = Client("AC00000000000000000000000000000001", TWILIO_TOKEN)
    twilio.api.base_url = provider
    message = twilio.messages.create(to=PHONE, from_="+35970012345", body=f"Page: call {PHONE}")
    assert message.sid.startswith("SM")

    slack = WebClient(token=SLACK_TOKEN, base_url=provider + "/")
    assert slack.chat_postMessage(channel="C1", text=f"breach, call {PHONE}")["ok"]

    out = buf.getvalue()
    loggers = {line["logger"] for line in json_lines(buf)}
    assert "twilio.http_client" in loggers and "slack_sdk.web.base_client" in loggers
    assert TWILIO_TOKEN not in out and SLACK_TOKEN not in out
    assert PHONE not in out and "%2B359881234567" not in out
    assert MASKED in out


def test_daemon_subprocess_writes_json_to_a_pipe() -> None:
    """Under systemd stdout is a pipe to journald: ``auto`` must pick JSON there."""
    code = (
        "from slawatch.obs.logging import configure_logging, get_logger, register_secret\n"
        "configure_logging('info', 'auto')\n"
        f"register_secret({TWILIO_TOKEN!r})\n"
        f"get_logger('slawatch.run').info('started', note='token {TWILIO_TOKEN}', to={PHONE!r})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    (line,) = [json.loads(raw) for raw in result.stdout.splitlines()]
    assert line["event"] == "started" and line["logger"] == "slawatch.run"
    assert line["note"] == f"token {REDACTED}" and line["to"] == MASKED


def test_stdlib_exception_tracebacks_are_redacted() -> None:
    """APScheduler logs a failing job with logger.exception: that traceback is scrubbed too."""
    for fmt, stream in (("json", io.StringIO()), ("console", Tty())):
        clear_secrets()
        configure_logging("info", fmt, stream=stream)
        register_secret(TWILIO_TOKEN)
        try:
            raise RuntimeError(f"job failed with {TWILIO_TOKEN} for {PHONE}")
        except RuntimeError:
            logging.getLogger("apscheduler.executors.default").exception("Job raised")
        out = stream.getvalue()
        assert "RuntimeError" in out and "Traceback" in out, fmt
        assert TWILIO_TOKEN not in out and PHONE not in out and MASKED in out, fmt
