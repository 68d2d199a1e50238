"""Logging for the daemon and the CLI: structlog, JSON lines for journald, and redaction.

:func:`configure_logging` is called once at start (and again after a reload that changes
``[logging]``). It renders

* JSON lines on stdout when stdout is not a terminal (journald keeps one entry per line), or
* readable coloured lines on a terminal (``[logging] format = "auto"``; ``json``/``console`` force
  one or the other).

Every line carries ``event``, ``level``, ``logger`` and ``timestamp`` (UTC), plus whatever ids are
bound: ``structlog.contextvars.bound_contextvars(incident_id=...)`` around a unit of work, or
``log.bind(...)``. Lines from the standard library loggers (uvicorn, apscheduler, slack_sdk,
twilio, sqlalchemy, ...) go through the same processors, so they are JSON and redacted too.

Redaction is the last step before a line is written, on the event and on the rendered text, so it
also covers exception tracebacks:

* values under keys that name a secret (``token``, ``password``, ``authorization``, ...);
* every value passed to :func:`register_secret` (the runtime registers each resolved
  :class:`~slawatch.config.secrets.Secret`), also URL-encoded or JSON-escaped;
* ``Authorization: Bearer/Basic ...`` headers, Slack tokens, passwords in URLs and
  ``password=...``-style pairs;
* phone numbers, masked like ``+35988****567`` (:func:`mask_phone`), also URL-encoded ``%2B...``.

uvicorn installs its own handlers unless it is started with ``log_config=None``: pass that, or
call :func:`route_library_loggers` after uvicorn configured itself.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO
from urllib.parse import quote, quote_plus

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from slawatch.config.secrets import Secret

__all__ = [
    "REDACTED",
    "clear_secrets",
    "configure_logging",
    "get_logger",
    "mask_phone",
    "redact_text",
    "redact_value",
    "register_secret",
    "route_library_loggers",
]

REDACTED = "[REDACTED]"

LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]

# Secret values shorter than this are not scrubbed from free text: masking every "abc" in every
# line would make the logs unreadable, and a secret that short protects nothing anyway.
MIN_SECRET_LENGTH = 4

# Loggers of the libraries slawatch uses; they propagate to the root handler.
LIBRARY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "apscheduler",
    "slack_sdk",
    "twilio",
    "twilio.http_client",
    "sqlalchemy",
    "alembic",
    "urllib3",
    "httpx",
    "aiosmtpd",
    "mail.log",
)
# Chatty at info level (twilio logs every request and its response headers): quiet unless debug.
_QUIET_UNLESS_DEBUG = (
    "twilio.http_client",
    "urllib3",
    "httpx",
    "sqlalchemy",
    "alembic",
    "apscheduler",
)

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|authori[sz]ation|api[_-]?key|credential|cookie|"
    r"private[_-]?key|signature|auth)$",
    re.IGNORECASE,
)

# ---------------------------------------------------------------- the secret registry
_lock = threading.Lock()
_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None


def register_secret(value: str | Secret) -> None:
    """Scrub this value (and its URL-encoded and JSON-escaped forms) from every log line."""
    raw = value.get() if isinstance(value, Secret) else value
    if not isinstance(raw, str) or len(raw) < MIN_SECRET_LENGTH:
        return
    forms = {raw, quote(raw, safe=""), quote_plus(raw), json.dumps(raw)[1:-1]}
    global _secret_pattern
    with _lock:
        before = len(_secrets)
        _secrets.update(f for f in forms if len(f) >= MIN_SECRET_LENGTH)
        if len(_secrets) != before:
            ordered = sorted(_secrets, key=len, reverse=True)
            _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def clear_secrets() -> None:
    """Forget every registered secret (for tests, and before re-registering after a reload)."""
    global _secret_pattern
    with _lock:
        _secrets.clear()
        _secret_pattern = None


# ------------------------------------------------------------------- text redaction
_PHONE = re.compile(r"(?<![\w+%])(\+|%2B|%2b)(\d{8,15})(?!\d)")
_AUTH_HEADER = re.compile(
    r"""(?ix)
    (authorization|proxy-authorization|x-api-key|x-auth-token|x-twilio-signature)
    (["']?\s*[:=]\s*["']?)
    (?:(bearer|basic|token|digest)\s+)?
    [^\s"',}]+
    """
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}")
_SLACK_TOKEN = re.compile(r"\bxox[abposer]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)([^\s@/]+)(@)")
_PAIR = re.compile(
    r"""(?ix)
    (["']?(?:[a-z_\-]*?(?:password|passwd|secret|token|api[_-]?key|auth_token)[a-z_]*)["']?
    \s*[:=]\s*)
    (["']?)
    ([^\s"'&,;}]+)
    """
)


def mask_phone(number: str) -> str:
    """Mask an E.164 number: ``+359881234567`` -> ``+35988****567``.

    The country code and first digits and the last three stay, so a person can still tell their
    own number; at least four digits are always masked. Text that is not a number of 8 to 15
    digits after ``+`` comes back unchanged.
    """
    match = re.fullmatch(r"(\+|%2B|%2b)(\d{8,15})", number.strip())
    if not match:
        return number
    return match.group(1) + _mask_digits(match.group(2))


def _mask_digits(digits: str) -> str:
    keep_head = min(5, max(1, len(digits) - 3 - 4))
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 3) + digits[-3:]


def redact_text(text: str) -> str:
    """Remove secrets from free text and mask phone numbers in it."""
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + " " + REDACTED, text)
    text = _SLACK_TOKEN.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    text = _PAIR.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return _PHONE.sub(lambda m: m.group(1) + _mask_digits(m.group(2)), text)


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact a logged value: secrets by key name, then strings, recursively."""
    if key is not None and _SECRET_KEY.search(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, MutableMapping | dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact_text(str(value))


def redact_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact every field except the bookkeeping ones."""
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of the message
    for key in list(event_dict):
        if key in ("level", "logger", "timestamp"):
            continue
        if key == "event":
            event_dict[key] = redact_value(event_dict[key])
        else:
            event_dict[key] = redact_value(event_dict[key], key)
    return event_dict


def scrub_registered(text: str) -> str:
    """Replace registered secret values only (safe on rendered JSON: escapes stay intact)."""
    pattern = _secret_pattern
    return text if pattern is None else pattern.sub(REDACTED, text)


class _RedactingRenderer:
    """Render, then scrub the rendered line: catches what a renderer formats itself (tracebacks).

    JSON lines were redacted field by field before rendering; the rendered text only gets the
    registered secrets removed, since the header and pair patterns could eat a JSON escape.
    """

    def __init__(self, inner: Processor, *, full: bool) -> None:
        self._inner = inner
        self._scrub = redact_text if full else scrub_registered

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        rendered = self._inner(logger, method_name, event_dict)
        text = rendered if isinstance(rendered, str) else str(rendered)
        return self._scrub(text)


# ------------------------------------------------------------------- configuration
def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def _use_json(fmt: LogFormat, stream: TextIO) -> bool:
    if fmt == "json":
        return True
    if fmt == "console":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(
    level: LogLevel | str = "info",
    fmt: LogFormat | str = "auto",
    *,
    stream: TextIO | None = None,
) -> None:
    """Send structlog and standard-library logging to ``stream`` (stdout), redacted.

    Safe to call again (a reload): it replaces the handler it installed before.
    """
    out = sys.stdout if stream is None else stream
    numeric = logging.getLevelName(str(level).upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    as_json = _use_json(fmt, out)  # type: ignore[arg-type]

    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    renderer: Processor
    if as_json:
        final += [structlog.processors.format_exc_info, redact_event]
        renderer = structlog.processors.JSONRenderer(sort_keys=False, default=str)
    else:
        final.append(redact_event)
        renderer = structlog.dev.ConsoleRenderer(
            colors=True, exception_formatter=structlog.dev.plain_traceback
        )
    final.append(_RedactingRenderer(renderer, full=not as_json))

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=final,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.set_name("slawatch")

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    route_library_loggers(debug=numeric <= logging.DEBUG)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def route_library_loggers(debug: bool = False, names: Iterable[str] = LIBRARY_LOGGERS) -> None:
    """Make library loggers propagate to slawatch's handler instead of their own."""
    for name in names:
        lib = logging.getLogger(name)
        for old in list(lib.handlers):
            lib.removeHandler(old)
        lib.propagate = True
        lib.setLevel(logging.NOTSET)
    for name in _QUIET_UNLESS_DEBUG:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)


def get_logger(name: str, **initial: Any) -> Any:
    """A structlog logger whose lines carry ``logger=name`` and the ``initial`` ids."""
    logger = structlog.stdlib.get_logger(name)
    return logger.bind(**initial) if initial else logger
