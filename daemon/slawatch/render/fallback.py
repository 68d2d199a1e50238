"""Built-in plain texts used when a template fails to render.

A broken user template must never swallow a page: the renderer logs the template error and
sends these instead. They are written in Python, read the context defensively (any field may be
missing or of the wrong type) and cannot raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slawatch.render.context import STAGE_LABELS


def _get(context: Mapping[str, Any], key: str, name: str) -> str:
    try:
        inner = context.get(key)
        value = inner.get(name) if isinstance(inner, Mapping) else None
    except Exception:
        return ""
    return "" if value is None else str(value)


def fallback_lines(stage: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """``(headline, details)``: the headline carries id, priority and deadline first."""
    try:
        label = STAGE_LABELS.get(stage, str(stage))
        incident_id = _get(context, "incident", "id")
        priority = _get(context, "incident", "priority")
        title = _get(context, "incident", "title")
        account = _get(context, "account", "name") or _get(context, "account", "id")
        target = _get(context, "target", "name")
        due = _get(context, "due", "recipient")
        words = _get(context, "target", "remaining_words")
        overdue = _get(context, "target", "overdue") == "True"
        link = context.get("link") if isinstance(context.get("link"), str) else ""
        head = [f"[slawatch] {label}"]
        if incident_id:
            head.append(incident_id)
        if priority:
            head.append(f"({priority})")
        if target:
            head.append(target)
        if due:
            head.append(f"due {due}")
        headline = " ".join(head)
        details = []
        if account:
            details.append(f"Account: {account}")
        if title:
            details.append(f"Title: {title}")
        if words:
            details.append(f"{'Overdue by' if overdue else 'Remaining'}: {words}")
        if link:
            details.append(str(link))
        return headline, "\n".join(details)
    except Exception:  # the last line of defence must not fail
        return f"[slawatch] {stage}", ""


def fallback_text(stage: str, context: Mapping[str, Any]) -> str:
    headline, details = fallback_lines(stage, context)
    return headline + ("\n" + details if details else "") + "\n"
