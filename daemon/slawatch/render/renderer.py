"""Rendering notifications with Jinja2: built-in templates, user overrides, safe fallbacks.

Templates are looked up by name, first in the user directory (``[templates] dir``), then in the
built-in ones shipped inside the package (``slawatch/templates``), so a user overrides any single
file, partial or layout by giving it the same relative name:

* ``email/<stage>.subject.j2``, ``email/<stage>.txt.j2``, ``email/<stage>.html.j2``
* ``slack/<stage>.json.j2``: a JSON object ``{"text": fallback, "blocks": [Block Kit]}``
* ``sms/<stage>.txt.j2``

Three Jinja environments share that loader, all with ``StrictUndefined`` (a typo in a template is
an error, not an empty string):

* text (SMS, email subject and text part): no escaping; ``None`` prints as nothing;
* HTML (``*.html.j2``): autoescape on;
* Slack (``slack/*.json.j2``): every ``{{ }}`` output is escaped for mrkdwn (``& < >``) *and* as
  a JSON string body, so titles with mentions, quotes, newlines or emoji cannot ping anybody or
  break the JSON. Filters ``plain`` (for ``plain_text`` fields) and ``slack_link(label)`` exist.

:meth:`Renderer.render` never raises because of a template: a part that fails (missing file,
syntax error, undefined field, invalid JSON) is replaced by the built-in plain text of
:mod:`slawatch.render.fallback`, the error is logged, and the message says ``fallback=True``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
)

from slawatch.render.context import format_full, format_short
from slawatch.render.escape import (
    finalize_slack,
    finalize_text,
    plain_filter,
    slack_escape,
    slack_link_filter,
)
from slawatch.render.fallback import fallback_lines, fallback_text
from slawatch.render.message import RenderedMessage
from slawatch.render.sms import encode_sms, fit_sms

if TYPE_CHECKING:
    from slawatch.config.loader import Settings

log = structlog.get_logger("slawatch.render")

SLACK_SECTION_LIMIT = 3000
SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 4000  # Slack truncates longer notification texts; keep ours readable
SLACK_MAX_BLOCKS = 50
EMAIL_SUBJECT_LIMIT = 200


def builtin_loader() -> BaseLoader:
    """The templates shipped as package data (``slawatch/templates``)."""
    return PackageLoader("slawatch", "templates")


def _day(value: date | datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return f"{value:%a} {value.day} {value:%b %Y}"


def _num(value: Any) -> str:
    """``3.0`` -> ``3``, ``2.5`` -> ``2.5``: counts that may arrive as floats."""
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _common(env: Environment) -> Environment:
    env.filters["num"] = _num
    env.filters["short"] = format_short
    env.filters["full"] = format_full
    env.filters["day"] = _day
    return env


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = re.sub(r"&[a-z]{0,4}$", "", text[: limit - 1])  # never split an &amp; entity
    return cut + "\u2026"


def clip_blocks(value: Any, parent: str | None = None) -> Any:
    """Keep Block Kit texts within Slack's limits (3000 per section, 150 per header)."""
    if isinstance(value, list):
        return [clip_blocks(item, parent) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("type")
    result = {}
    for key, item in value.items():
        if key == "text" and isinstance(item, str) and kind in {"mrkdwn", "plain_text"}:
            limit = SLACK_HEADER_LIMIT if parent == "header" else SLACK_SECTION_LIMIT
            result[key] = _clip(item, limit)
        else:
            result[key] = clip_blocks(item, kind if isinstance(kind, str) else parent)
    return result


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _one_line(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context with the free-text fields an SMS shows (title, account name) on one line."""
    result = dict(context)
    for key, field in (("incident", "title"), ("account", "name")):
        inner = result.get(key)
        if isinstance(inner, Mapping) and isinstance(inner.get(field), str):
            result[key] = {**inner, field: _collapse(inner[field])}
    return result


@dataclass(frozen=True)
class _Part:
    value: Any
    error: str | None


class Renderer:
    """Renders a stage for a channel from a context built by :func:`render.build_context`.

    Construct once per configuration (the Jinja environments cache compiled templates); safe to
    share between threads for rendering.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        templates_dir: str | Path | None = None,
        incident_url: str | None = None,
        log_errors: bool = True,
    ) -> None:
        self.log_errors = log_errors  # a preview command prints the errors itself
        if templates_dir is None and settings is not None:
            templates_dir = settings.file.templates.dir
        if incident_url is None and settings is not None:
            incident_url = settings.file.links.incident_url
        self.templates_dir = Path(templates_dir) if templates_dir else None
        self.incident_url = incident_url
        loaders: list[BaseLoader] = []
        if self.templates_dir is not None:
            loaders.append(FileSystemLoader(str(self.templates_dir)))
        loaders.append(builtin_loader())
        loader = ChoiceLoader(loaders)
        options: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": False,
        }
        self.text_env = _common(Environment(autoescape=False, finalize=finalize_text, **options))
        self.html_env = _common(Environment(autoescape=True, finalize=finalize_text, **options))
        self.slack_env = _common(Environment(autoescape=False, finalize=finalize_slack, **options))
        self.slack_env.filters["plain"] = plain_filter
        self.slack_env.filters["slack_link"] = slack_link_filter

    def check(self) -> list[str]:
        """Problems with the user template directory: missing, or templates that do not compile.

        Meant for ``check-config``: a broken template never stops a notification (the fallback
        text goes out), but the operator should hear about it before it is needed.
        """
        if self.templates_dir is None:
            return []
        if not self.templates_dir.is_dir():
            return [f"templates.dir: {self.templates_dir} is not a directory"]
        problems: list[str] = []
        for path in sorted(self.templates_dir.rglob("*.j2")):
            name = path.relative_to(self.templates_dir).as_posix()
            env = self.slack_env if name.startswith("slack/") else self.text_env
            if name.endswith(".html.j2"):
                env = self.html_env
            try:
                env.get_template(name)
            except Exception as exc:
                problems.append(f"templates.dir: {name}: {type(exc).__name__}: {exc}")
        return problems

    # ------------------------------------------------------------------------------ parts
    def _attempt(self, name: str, func: Callable[[], Any]) -> _Part:
        try:
            return _Part(func(), None)
        except Exception as exc:  # any template failure falls back; a page must still go out
            reason = f"{name}: {type(exc).__name__}: {exc}"
            return _Part(None, reason)

    def render_template(self, env: Environment, name: str, context: Mapping[str, Any]) -> str:
        """Render one template by name (raises on any error; used by the parts below)."""
        return env.get_template(name).render(dict(context))

    def _slack(self, stage: str, context: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        raw = self.render_template(self.slack_env, f"slack/{stage}.json.j2", context)
        doc = json.loads(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("text"), str):
            raise ValueError('a Slack template must produce {"text": "...", "blocks": [...]}')
        blocks = doc.get("blocks", [])
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise ValueError('"blocks" must be a list of Block Kit objects')
        if len(blocks) > SLACK_MAX_BLOCKS:
            raise ValueError(f"{len(blocks)} blocks; Slack accepts at most {SLACK_MAX_BLOCKS}")
        text = _clip(doc["text"], SLACK_TEXT_LIMIT)
        return text, tuple(clip_blocks(blocks))

    # ----------------------------------------------------------------------------- render
    def render(self, stage: str, channel: str, context: Mapping[str, Any]) -> RenderedMessage:
        """The message for ``stage`` on ``channel``; falls back (and logs) instead of raising."""
        incident = context.get("incident")
        incident_id = incident.get("id") if isinstance(incident, Mapping) else None
        dedupe_key = context.get("dedupe_key")
        errors: list[str] = []
        context = {**context, "channel": channel}

        # The built-in texts, only when a part failed (they cannot raise, so computing them on
        # demand changes nothing but the time spent on every message that renders fine).
        def plain() -> str:
            return fallback_text(stage, context)

        def headline() -> str:
            return fallback_lines(stage, context)[0]

        subject, html, blocks, sms = "", None, (), ""

        if channel == "email":
            part = self._attempt(
                f"email/{stage}.subject.j2",
                lambda: self.render_template(self.text_env, f"email/{stage}.subject.j2", context),
            )
            subject = _collapse(part.value) if part.error is None else headline()
            if part.error is None and not subject:
                subject = headline()
            errors += [part.error] if part.error else []
            part = self._attempt(
                f"email/{stage}.txt.j2",
                lambda: self.render_template(self.text_env, f"email/{stage}.txt.j2", context),
            )
            text = part.value.strip() + "\n" if part.error is None else plain()
            errors += [part.error] if part.error else []
            part = self._attempt(
                f"email/{stage}.html.j2",
                lambda: self.render_template(self.html_env, f"email/{stage}.html.j2", context),
            )
            html = part.value if part.error is None else None
            errors += [part.error] if part.error else []
            subject = _clip(subject, EMAIL_SUBJECT_LIMIT)
        elif channel == "slack":
            part = self._attempt(f"slack/{stage}.json.j2", lambda: self._slack(stage, context))
            if part.error is None:
                text, blocks = part.value
            else:
                text, blocks = slack_escape(plain()), ()
                errors.append(part.error)
        elif channel == "sms":
            name = f"sms/{stage}.txt.j2"
            sms_context = _one_line(context)
            part = self._attempt(
                name,
                lambda: fit_sms(
                    lambda ctx: self.render_template(self.text_env, name, ctx), sms_context
                ),
            )
            if part.error is None:
                sms = part.value.text
            else:
                sms = encode_sms(headline()).text
                errors.append(part.error)
            text = sms
        else:
            errors.append(f"unknown channel {channel!r}")
            text = plain()
        for error in errors if self.log_errors else ():
            log.error(
                "template_failed",
                stage=stage,
                channel=channel,
                incident_id=incident_id,
                error=error,
            )
        return RenderedMessage(
            channel=channel,
            stage=stage,
            text=text,
            subject=subject,
            html=html,
            blocks=blocks,
            sms=sms,
            incident_id=str(incident_id) if incident_id is not None else None,
            dedupe_key=str(dedupe_key) if dedupe_key is not None else None,
            fallback=bool(errors),
            template_errors=tuple(errors),
        )
