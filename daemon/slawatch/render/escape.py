"""Escaping for Slack: mrkdwn control characters and JSON string bodies.

Slack treats ``<...>`` as links and mentions (``<!channel>``, ``<@U123>``) and ``&`` as the start
of an entity, so any text from outside (an incident title, an account name) must have ``&``,
``<`` and ``>`` replaced by ``&amp;``, ``&lt;`` and ``&gt;``; then an incident titled
``<!channel>`` pings nobody. Slack templates are JSON, so the escaped text is also written as the
body of a JSON string: quotes, backslashes, newlines and control characters can never break the
document, whatever the title holds.
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup


class SlackRaw(str):
    """Text already escaped for a Slack JSON template; output as it is."""

    __slots__ = ()


def slack_escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for Slack mrkdwn (and plain) text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def json_body(text: str) -> str:
    """``text`` as the inside of a JSON string literal (no surrounding quotes)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def finalize_text(value: Any) -> Any:
    """Jinja ``finalize`` for text templates: ``None`` prints as nothing, not ``None``."""
    return "" if value is None else value


def finalize_slack(value: Any) -> Any:
    """Jinja ``finalize`` for Slack JSON templates: every ``{{ }}`` output is made safe.

    Values marked :class:`SlackRaw` (from the ``plain``/``slack_link`` filters) or ``Markup``
    (from ``tojson``) are already safe and pass through.
    """
    if value is None:
        return ""
    if isinstance(value, SlackRaw | Markup):
        return value
    return SlackRaw(json_body(slack_escape(str(value))))


def plain_filter(value: Any) -> SlackRaw:
    """For ``plain_text`` fields (e.g. a header block): JSON-safe, no mrkdwn escaping needed.

    Slack shows ``plain_text`` literally and never turns it into a mention.
    """
    return SlackRaw(json_body("" if value is None else str(value)))


def slack_link_filter(url: Any, label: Any = None) -> SlackRaw:
    """A mrkdwn link ``<url|label>``; ``|`` cannot be escaped in a label, so it is replaced."""
    if not url:
        return SlackRaw(json_body(slack_escape("" if label is None else str(label))))
    shown = slack_escape(str(label if label is not None else url)).replace("|", "\u2758")
    return SlackRaw(json_body(f"<{slack_escape(str(url))}|{shown}>"))
