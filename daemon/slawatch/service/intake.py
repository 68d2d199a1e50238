"""The intake façade the CLI and the HTTP API share.

Each method is one unit of work: it opens a session, validates, writes, commits, and only then
calls ``on_change(incident_id)`` for every incident whose clocks may have moved, so the daemon
can evaluate it at once instead of at its next tick. The clock is injected (``clock``) so tests
and the daemon decide what "now" is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from slawatch.config.loader import Settings
from slawatch.core.plans import PRIORITIES
from slawatch.errors import ConflictError, NotFoundError, ValidationError
from slawatch.service import accounts as account_rules
from slawatch.service.evaluation import recompute
from slawatch.service.incidents import (
    EventInput,
    IncidentInput,
    check_external_id,
    open_incident,
    record_event,
)
from slawatch.service.views import account_view, incident_view
from slawatch.store import outbox, repo
from slawatch.store.db import Database
from slawatch.store.models import Incident

OnChange = Callable[[int], None]
log = logging.getLogger(__name__)

#: The most incidents one page of the queue may ask for (the API's and the CLI's ``limit``).
MAX_PAGE = 10_000
#: Incidents loaded at a time while building the queue's views (SQLite takes at most 32,766
#: parameters per statement).
LOAD_CHUNK = 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


class Intake:
    """Account and incident operations over one :class:`Database`."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        on_change: OnChange | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.settings = settings
        self.on_change = on_change
        self.clock = clock

    def _notify(self, incident_ids: list[int]) -> None:
        """Tell the hook; if it fails, the change is already stored, so mark the incident due
        now (the daemon's next scan evaluates it) rather than fail the caller's request.
        """
        if self.on_change is None:
            return
        for incident_id in incident_ids:
            try:
                self.on_change(incident_id)
            except Exception:
                log.exception("on_change hook failed; incident %s left due now", incident_id)
                now = self.clock()
                with self.db.session() as session:
                    repo.set_next_check(session, incident_id, now, now)

    # ------------------------------------------------------------------------ accounts
    def sync_config_accounts(self) -> list[str]:
        """Upsert the config file's ``[accounts.ID]`` tables (see service.accounts)."""
        now = self.clock()
        with self.db.session() as session:
            touched = account_rules.sync_config_accounts(session, self.settings, now)
            changed = self._recompute_accounts(session, touched, now)
        self._notify(changed)
        return touched

    def _recompute_accounts(self, session: Any, account_ids: list[str], now: datetime) -> list[int]:
        if not account_ids:
            return []
        incidents = repo.load_incidents(
            session,
            list(
                session.execute(
                    select(Incident.id).where(
                        Incident.account_id.in_(account_ids), Incident.status == "open"
                    )
                ).scalars()
            ),
            for_update=True,
        )
        for incident in incidents:
            recompute(incident, self.settings, now)
        return [i.id for i in incidents]

    def put_account(self, account_id: str, data: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or fully replace an account (``PUT``); return ``(view, created)``."""
        account_rules.check_account_id(account_id)
        if "id" in data and data["id"] != account_id:
            raise ValidationError("id", "does not match the account id in the path")
        clean = account_rules.parse_account(
            {k: v for k, v in data.items() if k != "id"}, self.settings
        )
        account_rules.check_overrides(clean, clean["plan"])
        return self._write_account(account_id, clean)

    def add_account(self, account_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create an account; a ConflictError when the id is taken."""
        account_rules.check_account_id(account_id)
        clean = account_rules.parse_account(data, self.settings)
        account_rules.check_overrides(clean, clean["plan"])
        with self.db.read_session() as session:
            if repo.find_account(session, account_id) is not None:
                raise ConflictError("id", f"account {account_id!r} exists; use 'account set'")
        return self._write_account(account_id, clean)[0]

    def set_account(self, account_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Change the given fields of an existing account."""
        account_rules.check_account_id(account_id)
        clean = account_rules.parse_account(data, self.settings, partial=True)
        now = self.clock()
        with self.db.session() as session:
            account = repo.get_account(session, account_id)
            account_rules.check_overrides(clean, clean.get("plan", account.plan))
            account, _, changed = account_rules.apply_account(session, account_id, clean, now)
            ids = self._recompute_accounts(session, [account_id], now) if changed else []
            view = account_view(account)
        self._notify(ids)
        return view

    def _write_account(self, account_id: str, clean: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        now = self.clock()
        with self.db.session() as session:
            account, created, changed = account_rules.apply_account(session, account_id, clean, now)
            ids = self._recompute_accounts(session, [account_id], now) if changed else []
            view = account_view(account)
        self._notify(ids)
        return view, created

    def get_account(self, account_id: str) -> dict[str, Any]:
        account_rules.check_account_id(account_id)
        with self.db.read_session() as session:
            return account_view(repo.get_account(session, account_id))

    def list_accounts(self) -> list[dict[str, Any]]:
        with self.db.read_session() as session:
            return [account_view(a) for a in repo.list_accounts(session)]

    def import_accounts(self, path: Path) -> tuple[int, int]:
        """Import a TOML or CSV file; all rows or none. Returns ``(created, updated)``."""
        rows = account_rules.read_import_file(path)
        clean_rows = account_rules.validate_import(rows, self.settings, str(path))
        now = self.clock()
        created = updated = 0
        with self.db.session() as session:
            touched: list[str] = []
            for clean in clean_rows:
                account_id = clean.pop("id")
                _, was_created, changed = account_rules.apply_account(
                    session, account_id, clean, now
                )
                created += was_created
                updated += changed and not was_created
                if changed:
                    touched.append(account_id)
            ids = self._recompute_accounts(session, touched, now)
        self._notify(ids)
        return created, updated

    # ----------------------------------------------------------------------- incidents
    def open_incident(self, data: IncidentInput) -> tuple[dict[str, Any], bool]:
        """Open (or idempotently repeat) an incident; return ``(view, created)``."""
        now = self.clock()
        with self.db.session() as session:
            incident, created = open_incident(session, self.settings, data, now)
            view = incident_view(incident, self.settings, now)
            incident_id = incident.id
        if created:
            self._notify([incident_id])
        return view, created

    def record_event(self, external_id: str, data: EventInput) -> tuple[dict[str, Any], bool]:
        """Record an event (idempotent on type and time); return ``(view, changed)``."""
        now = self.clock()
        with self.db.session() as session:
            incident, changed = record_event(session, self.settings, external_id, data, now)
            view = incident_view(incident, self.settings, now)
            incident_id = incident.id
        if changed:
            self._notify([incident_id])
        return view, changed

    def get_incident(self, external_id: str, *, with_notifications: bool = False) -> dict[str, Any]:
        check_external_id(external_id)
        now = self.clock()
        with self.db.read_session() as session:
            incident = repo.get_incident(session, external_id)
            notes = (
                outbox.list_notifications(session, incident_id=incident.id, limit=1000)
                if with_notifications
                else None
            )
            if notes is not None:
                notes = sorted(notes, key=lambda n: n.id)
            return incident_view(incident, self.settings, now, notifications=notes)

    def queue(
        self, state: str | None = "open", *, limit: int | None = None, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Incidents in service order (plan rank, priority, earliest due), or the page of
        ``limit`` from ``offset`` (:func:`repo.queue_ids`); each with its clocks at now."""
        if state not in ("open", "resolved", None):
            raise ValidationError("state", "use open, resolved or all")
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be between 1 and {MAX_PAGE}")
        if offset < 0:
            raise ValidationError("offset", "must be 0 or more")
        now = self.clock()
        views: list[dict[str, Any]] = []
        with self.db.read_session() as session:
            ids = repo.queue_ids(
                session,
                status=state,
                ranks={name: plan.rank for name, plan in self.settings.plans.items()},
                priorities=PRIORITIES,
                limit=limit,
                offset=offset,
            )
            for first in range(0, len(ids), LOAD_CHUNK):
                views.extend(
                    incident_view(i, self.settings, now, with_events=False)
                    for i in repo.load_incidents(session, ids[first : first + LOAD_CHUNK])
                )
                session.expunge_all()  # a long queue is not held as ORM objects
        return views

    def incident_id(self, external_id: str) -> int:
        with self.db.read_session() as session:
            incident = repo.find_incident(session, external_id)
            if incident is None:
                raise NotFoundError("incident", external_id)
            return incident.id
