"""The JSON-lines file sender: one JSON object per delivered message, appended to a file.

The second embedded sender (next to the console): it keeps a machine-readable record of what
would have gone to Slack, SMS or email when no provider is configured, and end-to-end tests read
it to see what the daemon sent. Each line is written with a single ``write`` of a complete line
and flushed, so a reader never sees half a record; a crash can at worst lose the last line, which
the outbox then re-sends (at-least-once).

Line fields: ``at`` (UTC ISO 8601), ``id`` (the provider id returned), ``channel``, ``stage``,
``address``, ``incident_id``, ``dedupe_key``, ``thread_ref``, ``subject``, ``text``, ``sms``,
``html``, ``blocks``, ``fallback``. The address is written in full: the file is the delivery
record, as private as the database.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from slawatch.errors import TemporaryDeliveryError
from slawatch.senders.base import CHANNELS, RenderedMessage, SendResult


def _utcnow() -> datetime:
    return datetime.now(UTC)


class JsonlSender:
    """Appends one JSON line per message to ``path`` (parent directories are created)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        channels: Iterable[str] = CHANNELS,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.path = Path(path)
        self.channels = frozenset(channels)
        self._clock = clock
        self._lock = threading.Lock()

    def send(self, message: RenderedMessage, address: str, *, thread_ref: str | None) -> SendResult:
        provider_id = f"jsonl-{uuid.uuid4().hex[:12]}"
        record = {
            "at": self._clock().astimezone(UTC).isoformat(),
            "id": provider_id,
            "address": address,
            "thread_ref": thread_ref,
            **message.as_dict(),
        }
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
                    handle.flush()
        except OSError as exc:
            raise TemporaryDeliveryError(
                f"cannot append to {self.path}: {exc.strerror}", code="io"
            ) from None
        return SendResult(provider_message_id=provider_id, thread_ref=None)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """Every complete record in a JSON-lines file written by :class:`JsonlSender`."""
    records: list[dict[str, object]] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line after a crash
    return records
