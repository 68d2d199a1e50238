"""Accounts: validating input from the CLI, the API, import files and the config file.

All input goes through :func:`parse_account`, which either returns clean values or raises
:class:`~slawatch.errors.ValidationError` naming the field, before anything is written. A plan
change is recorded in ``plan_changes`` with the instant it took effect, so incidents opened
before it keep their plan.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from slawatch.config.loader import Settings
from slawatch.config.schema import E164
from slawatch.core.durations import parse_duration
from slawatch.core.plans import CADENCE_MONTHS, PRIORITIES, TARGETS
from slawatch.errors import ValidationError
from slawatch.service.incidents import ACCOUNT_ID, check_text
from slawatch.store.models import Account, PlanChange

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Longest SLA target an account may carry (about ten years of business days).
MAX_TARGET_DAYS = 2500
#: The first plan of an account applies to every incident, however far back it was opened.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
FIELDS = (
    "id",
    "name",
    "plan",
    "calendar",
    "csm",
    "contract_start",
    "emails",
    "phones",
    "sla",
    "meeting_cadence",
    "active",
)
DEFAULTS: dict[str, Any] = {
    "calendar": None,
    "csm": None,
    "contract_start": None,
    "emails": [],
    "phones": [],
    "sla": {},
    "meeting_cadence": None,
    "active": True,
}


class ImportRejected(ValidationError):
    """An import file had bad rows; ``problems`` lists each as ``FILE:LINE: field: reason``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("file", f"{len(problems)} bad row(s), nothing imported")


def check_account_id(value: Any, field: str = "id") -> str:
    if not isinstance(value, str) or not ACCOUNT_ID.match(value):
        raise ValidationError(
            field, "an account id is 1-100 letters, digits, '.', '_' or '-', starting alnum"
        )
    return value


def _text(value: Any, field: str, *, limit: int, optional: bool = False) -> str | None:
    if value is None or (optional and value == ""):
        if optional:
            return None
        raise ValidationError(field, "is required")
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return check_text(value, field, limit).strip()


def _list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[;,\s]+", value) if v]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValidationError(field, "must be a list of strings")
    if len(value) > 50:
        raise ValidationError(field, "at most 50 entries")
    return [check_text(v, f"{field}[{i}]", 300).strip() for i, v in enumerate(value)]


def _bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise ValidationError(field, "must be true or false")


def _date(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise ValidationError(field, "must be a date like 2026-01-31, not a timestamp")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(field, f"cannot parse {value!r}; use YYYY-MM-DD")


def _overrides(value: Any, plan: str) -> dict[str, dict[str, str]]:
    if value is None or value == {}:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("sla", 'must be a table like {"high": {"workaround": "4h"}}')
    if plan != "premium":
        raise ValidationError("sla", "only premium ('Custom SLA') accounts may override targets")
    result: dict[str, dict[str, str]] = {}
    for priority, row in value.items():
        if priority not in PRIORITIES:
            raise ValidationError(
                f"sla.{priority}", f"unknown priority; use {', '.join(PRIORITIES)}"
            )
        if not isinstance(row, Mapping):
            raise ValidationError(f"sla.{priority}", "must be a table of target = duration")
        cells: dict[str, str] = {}
        for target, cell in row.items():
            key = f"sla.{priority}.{target}"
            if target not in TARGETS:
                raise ValidationError(key, f"unknown target; use {', '.join(TARGETS)}")
            if not isinstance(cell, str):
                raise ValidationError(key, "must be a duration like '4h' or '-'")
            if cell != "-":
                try:
                    duration = parse_duration(cell)
                except ValueError as exc:
                    raise ValidationError(key, str(exc)) from None
                if duration.immediate and (priority, target) != ("high", "response"):
                    raise ValidationError(key, "'immediate' is only for the high response")
                if duration.days > MAX_TARGET_DAYS or duration.seconds > MAX_TARGET_DAYS * 3600:
                    raise ValidationError(key, f"at most {MAX_TARGET_DAYS} business days")
            cells[target] = cell
        result[priority] = cells
    return result


def parse_account(
    data: Mapping[str, Any], settings: Settings, *, partial: bool = False
) -> dict[str, Any]:
    """Validate account fields; return only the fields given (all of them unless ``partial``).

    ``partial`` is for ``account set``: absent fields are left alone. Raises ValidationError
    naming the first bad field.
    """
    unknown = [key for key in data if key not in FIELDS]
    if unknown:
        raise ValidationError(unknown[0], f"unknown field; known: {', '.join(FIELDS)}")
    values: dict[str, Any] = {} if partial else {**DEFAULTS}
    values.update({k: v for k, v in data.items()})
    clean: dict[str, Any] = {}
    if "id" in values:
        clean["id"] = check_account_id(values["id"])
    if "name" in values or not partial:
        clean["name"] = _text(values.get("name"), "name", limit=300)
    if "plan" in values or not partial:
        plan = values.get("plan")
        if plan not in settings.plans:
            raise ValidationError("plan", f"unknown plan {plan!r}; use {', '.join(settings.plans)}")
        clean["plan"] = plan
    if "calendar" in values:
        calendar = _text(values["calendar"], "calendar", limit=100, optional=True)
        if calendar is not None and calendar not in settings.calendars:
            raise ValidationError(
                "calendar",
                f"unknown calendar {calendar!r}; defined: {', '.join(sorted(settings.calendars))}",
            )
        clean["calendar"] = calendar
    if "csm" in values:
        csm = _text(values["csm"], "csm", limit=100, optional=True)
        if csm is not None and csm not in settings.file.people:
            known = ", ".join(sorted(settings.file.people)) or "none defined under [people]"
            raise ValidationError("csm", f"unknown person {csm!r} (known: {known})")
        clean["csm"] = csm
    if "contract_start" in values:
        clean["contract_start"] = _date(values["contract_start"], "contract_start")
    if "emails" in values:
        emails = _list(values["emails"], "emails")
        for index, email in enumerate(emails):
            if not EMAIL.match(email) or len(email) > 300:
                raise ValidationError(f"emails[{index}]", f"{email!r} is not an email address")
        clean["emails"] = emails
    if "phones" in values:
        phones = _list(values["phones"], "phones")
        for index, phone in enumerate(phones):
            if not E164.match(phone):
                raise ValidationError(
                    f"phones[{index}]", f"{phone!r} is not an E.164 number like '+359881234567'"
                )
        clean["phones"] = phones
    if "meeting_cadence" in values:
        cadence = values["meeting_cadence"] or None
        if cadence is not None and cadence not in CADENCE_MONTHS:
            raise ValidationError(
                "meeting_cadence", f"unknown cadence {cadence!r}; use {', '.join(CADENCE_MONTHS)}"
            )
        clean["meeting_cadence"] = cadence
    if "active" in values:
        clean["active"] = _bool(values["active"], "active")
    if "sla" in values:
        clean["sla"] = values["sla"]  # checked against the final plan by the caller
    return clean


def check_overrides(clean: dict[str, Any], plan: str) -> None:
    """The SLA overrides must fit the (possibly changed) plan: premium only."""
    if "sla" in clean:
        clean["sla"] = _overrides(clean["sla"], plan)


def apply_account(
    session: Session, account_id: str, clean: Mapping[str, Any], now: datetime
) -> tuple[Account, bool, bool]:
    """Create or update the row; return ``(account, created, changed)``.

    A new plan is recorded in ``plan_changes`` effective ``now`` (for a new account:
    effective from the beginning, so back-dated incidents get it too).
    """
    account = session.get(Account, account_id)
    created = account is None
    if account is None:
        plan = clean["plan"]
        account = Account(
            id=account_id,
            name=clean["name"],
            plan=plan,
            created_at=now,
            updated_at=now,
            emails=[],
            phones=[],
            sla_overrides={},
            active=True,
        )
        session.add(account)
        session.add(PlanChange(account_id=account_id, plan=plan, effective_at=BEGINNING))
    changed = created
    for key, value in clean.items():
        column = "sla_overrides" if key == "sla" else key
        if key == "id":
            continue
        if getattr(account, column) != value:
            if key == "plan" and not created:
                session.add(PlanChange(account_id=account_id, plan=value, effective_at=now))
            setattr(account, column, value)
            changed = True
    if account.sla_overrides and account.plan != "premium":
        raise ValidationError("sla", "only premium ('Custom SLA') accounts may override targets")
    if changed:
        account.updated_at = now
    session.flush()
    return account, created, changed


# ---------------------------------------------------------------------- config accounts
def config_account_data(settings: Settings, account_id: str) -> dict[str, Any]:
    """The ``[accounts.ID]`` table as :func:`parse_account` input."""
    cfg = settings.file.accounts[account_id]
    sla = {
        priority: {
            target: str(cell) if cell is not None else "-" for target, cell in row.cells().items()
        }
        for priority, row in cfg.sla.items()
    }
    return {
        "name": cfg.name,
        "plan": cfg.plan,
        "calendar": cfg.calendar,
        "csm": cfg.csm,
        "contract_start": cfg.contract_start,
        "emails": list(cfg.emails),
        "phones": list(cfg.phones),
        "sla": sla,
        "meeting_cadence": cfg.meeting_cadence,
        "active": cfg.active,
    }


def sync_config_accounts(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Upsert every account declared in the config file; return the ids created or changed.

    The file wins over the database for the keys it declares. The daemon calls this at start
    and after a reload; CLI commands call it before they touch accounts or incidents.
    """
    touched: list[str] = []
    for account_id in settings.file.accounts:
        clean = parse_account(config_account_data(settings, account_id), settings)
        check_overrides(clean, clean["plan"])
        _, created, changed = apply_account(session, account_id, clean, now)
        if created or changed:
            touched.append(account_id)
    return touched


# ------------------------------------------------------------------------------- import
def read_import_file(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a TOML or CSV account file as ``(line number, fields)``.

    TOML: ``[accounts.ID]`` tables with the keys of the config file's ``[accounts.ID]``.
    CSV: a header line naming the columns (``id,name,plan,...``); several emails or phones in one
    cell are separated by ``;``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError("file", f"cannot read {path} ({exc.strerror})") from None
    if path.suffix.lower() == ".toml":
        return _toml_rows(path, text)
    if path.suffix.lower() == ".csv":
        return _csv_rows(text)
    raise ValidationError("file", f"{path}: use a .toml or .csv file")


def _toml_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImportRejected([f"{path}: {exc}"]) from None
    unknown = [key for key in data if key != "accounts"]
    if unknown:
        raise ImportRejected([f"{path}: {unknown[0]}: expected only [accounts.ID] tables"])
    accounts = data.get("accounts", {})
    lines = text.splitlines()
    rows: list[tuple[int, dict[str, Any]]] = []
    for account_id, table in accounts.items():
        line = next(
            (
                n
                for n, raw in enumerate(lines, 1)
                if re.match(rf"^\s*\[\s*accounts\.\"?{re.escape(account_id)}\"?\s*\]", raw)
            ),
            0,
        )
        fields = dict(table) if isinstance(table, dict) else {"name": table}
        rows.append((line, {"id": account_id, **fields}))
    return rows


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[int, dict[str, Any]]] = []
    for record in reader:
        fields = {
            key.strip(): (value.strip() if isinstance(value, str) else value)
            for key, value in record.items()
            if key is not None
        }
        fields = {k: v for k, v in fields.items() if v not in ("", None)}
        if None in record:
            fields["__extra__"] = record[None]
        rows.append((reader.line_num, fields))
    return rows


def validate_import(
    rows: list[tuple[int, dict[str, Any]]], settings: Settings, source: str
) -> list[dict[str, Any]]:
    """Check every row; raise :class:`ImportRejected` listing every bad one."""
    problems: list[str] = []
    clean_rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, fields in rows:
        try:
            if "__extra__" in fields:
                raise ValidationError("row", "more cells than header columns")
            clean = parse_account(fields, settings, partial=False)
            if "id" not in clean:
                raise ValidationError("id", "is required")
            check_overrides(clean, clean["plan"])
            if clean["id"] in seen:
                raise ValidationError("id", f"duplicate of line {seen[clean['id']]}")
            seen[clean["id"]] = line
            clean_rows.append(clean)
        except ValidationError as exc:
            problems.append(f"{source}:{line}: {exc.field}: {exc.reason}")
    if problems:
        raise ImportRejected(problems)
    return clean_rows
