"""Finding, reading and checking ``slawatch.toml``, and building the frozen :class:`Settings`.

Search order: ``--config PATH``, then ``$SLAWATCH_CONFIG``, then ``/etc/slawatch/slawatch.toml``,
then ``./config/slawatch.toml``. A path named explicitly (option or variable) must exist; when
neither default location exists the embedded defaults apply (SQLite, console output, a 24x7
calendar).

Every problem is reported as ``FILE: key.path: reason``, all at once, in a
:class:`~slawatch.errors.ConfigError`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pydantic

from slawatch.config.schema import CalendarConfig, ConfigFile, PartialTargetRow, PlanConfig
from slawatch.core.calendar import BusinessCalendar, Interval, parse_interval
from slawatch.core.durations import Duration
from slawatch.core.plans import BUILTIN_PLANS, CADENCE_MONTHS, Plan
from slawatch.errors import ConfigError

DEFAULT_PATHS = (Path("/etc/slawatch/slawatch.toml"), Path("config/slawatch.toml"))
ALWAYS_OPEN = "24x7"
RECIPIENT_KEYWORDS = frozenset(
    {
        "assignee",
        "csm",
        "team",
        "support_lead",
        "support_manager",
        "oncall",
        "oncall:primary",
        "oncall:secondary",
    }
)


@dataclass(frozen=True)
class Settings:
    """The validated configuration, ready to use. Built once at start (and on reload).

    ``file`` holds every section as parsed; ``calendars`` and ``plans`` are the built objects
    (``calendars`` always includes ``24x7``). ``path`` is ``None`` on the embedded defaults.
    """

    file: ConfigFile
    path: Path | None
    calendars: Mapping[str, BusinessCalendar]
    default_calendar: str
    plans: Mapping[str, Plan]
    account_plans: Mapping[str, Plan] = field(default_factory=dict)
    #: The parsed TOML these settings were built from: ``build_settings(data, path)`` builds
    #: equal settings again (the daemon's scan workers do, in their own processes).
    data: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def calendar(self, name: str | None) -> BusinessCalendar:
        """The named calendar, or the default one for ``None``; KeyError if unknown."""
        return self.calendars[name or self.default_calendar]

    def plan(
        self, name: str, overrides: Mapping[str, Mapping[str, Duration | None]] | None = None
    ) -> Plan:
        """The named plan with the configured overrides, plus per-account ones if given."""
        plan = self.plans[name]
        return plan.with_overrides(overrides) if overrides else plan

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "embedded defaults"

    def summary(self) -> str:
        """One line for ``check-config`` and the start-up log."""
        f = self.file
        senders = [c for c in ("slack", "sms", "email") if getattr(f, c) is not None]
        return (
            f"{self.source}: {len(self.calendars)} calendars (default {self.default_calendar}), "
            f"{len(self.plans)} plans, {len(f.accounts)} accounts, {len(f.people)} people, "
            f"senders: {', '.join(senders) or 'console/file only'}"
        )


def find_config(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The config path to use, or ``None`` for the embedded defaults (see module docstring)."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get("SLAWATCH_CONFIG"):
        return Path(env["SLAWATCH_CONFIG"])
    for candidate in DEFAULT_PATHS:
        if candidate.exists():
            return candidate
    return None


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load, validate and build the settings; raise ``ConfigError`` listing every problem.

    ``load_config(None)`` follows the search order; a given path must exist.
    """
    resolved = find_config(path, environ)
    if resolved is None:
        return build_settings({}, None)
    try:
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{resolved}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{resolved}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{resolved}: not valid TOML: {exc}") from None
    return build_settings(data, resolved)


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in {"function-after[_check(), CalendarConfig]"}:
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _pydantic_problems(source: str, exc: pydantic.ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(
            part
            for part in error["loc"]
            if not (isinstance(part, str) and ("[" in part or part.startswith("function-")))
        )
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{source}: {_loc(loc)}: {message}")
    return problems


def _calendar_problems_in_raw(source: str, data: dict[str, Any]) -> list[str]:
    """Calendar problems the schema cannot see, looked for in a file the schema rejected.

    Without this, a file with a misspelt key and an unknown holiday country or calendar name
    would take two rounds of ``check-config`` to show both. Only values the schema accepted are
    looked at (the rest is already reported); the messages are the ones ``build_settings`` uses.
    """
    problems: list[str] = []
    raw = data.get("calendars")
    raw_calendars: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for name, table in raw_calendars.items():
        if name == ALWAYS_OPEN:
            continue
        try:
            cfg = CalendarConfig.model_validate(table)
        except pydantic.ValidationError:
            continue
        try:
            build_calendar(name, cfg)
        except ValueError as exc:
            problems.append(f"{source}: calendars.{name}{getattr(exc, 'key_suffix', '')}: {exc}")
    names = {ALWAYS_OPEN, *raw_calendars}
    defined = ", ".join(sorted(names))
    for section in ("plans", "accounts", "people"):
        entries = data.get(section)
        if not isinstance(entries, dict):
            continue
        for key, entry in entries.items():
            ref = entry.get("calendar") if isinstance(entry, dict) else None
            if isinstance(ref, str) and ref not in names:
                problems.append(
                    f"{source}: {section}.{key}.calendar: unknown calendar {ref!r}; "
                    f"defined: {defined}"
                )
    default = data.get("default_calendar")
    if isinstance(default, str) and default not in names:
        problems.append(f"{source}: default_calendar: unknown calendar {default!r}")
    return problems


def build_settings(data: dict[str, Any], path: Path | None) -> Settings:
    """Validate parsed TOML ``data`` (from ``path``, for messages) into :class:`Settings`."""
    source = str(path) if path else "embedded defaults"
    try:
        parsed = ConfigFile.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigError(
            _pydantic_problems(source, exc) + _calendar_problems_in_raw(source, data)
        ) from None
    problems: list[str] = []

    def problem(key: str, reason: str) -> None:
        problems.append(f"{source}: {key}: {reason}")

    calendars: dict[str, BusinessCalendar] = {ALWAYS_OPEN: BusinessCalendar.always_open()}
    for name, cal_cfg in parsed.calendars.items():
        if name == ALWAYS_OPEN:
            problem(f"calendars.{name}", "'24x7' is built in and cannot be redefined")
            continue
        try:
            calendars[name] = build_calendar(name, cal_cfg)
        except ValueError as exc:
            problem(f"calendars.{name}{getattr(exc, 'key_suffix', '')}", str(exc))

    default_calendar: str | None = parsed.default_calendar
    if default_calendar is None:
        user = [n for n in parsed.calendars if n != ALWAYS_OPEN]
        if len(user) > 1:
            problem("default_calendar", "required when more than one calendar is defined")
        default_calendar = user[0] if len(user) == 1 else ALWAYS_OPEN
    elif default_calendar not in calendars and default_calendar not in parsed.calendars:
        problem("default_calendar", f"unknown calendar {default_calendar!r}")

    def check_calendar(key: str, name: str | None) -> None:
        if name is not None and name not in calendars and name not in parsed.calendars:
            defined = ", ".join(sorted(set(calendars) | set(parsed.calendars)))
            problem(key, f"unknown calendar {name!r}; defined: {defined}")

    def check_person(key: str, name: str | None) -> None:
        if name is not None and name not in parsed.people:
            known = ", ".join(sorted(parsed.people)) or "none defined under [people]"
            problem(key, f"unknown person {name!r} (known: {known})")

    plans = {
        name: apply_plan_config(plan, parsed.plans.get(name))  # type: ignore[call-overload]
        for name, plan in BUILTIN_PLANS.items()
    }
    for name, plan_cfg in parsed.plans.items():
        check_calendar(f"plans.{name}.calendar", plan_cfg.calendar)
    for name, plan in plans.items():
        for priority, row in plan.targets.items():
            for target, cell in row.items():
                if cell is None or not cell.immediate:
                    continue
                if (priority, target) != ("high", "response"):
                    problem(
                        f"plans.{name}.targets.{priority}.{target}",
                        "'immediate' is only allowed for the high-priority response",
                    )
                elif not plan.hotline:
                    problem(
                        f"plans.{name}.targets.high.response",
                        "'immediate' needs a plan with a hotline (hotline = true)",
                    )
    account_plans: dict[str, Plan] = {}
    for account_id, account in parsed.accounts.items():
        check_calendar(f"accounts.{account_id}.calendar", account.calendar)
        check_person(f"accounts.{account_id}.csm", account.csm)
        if account.sla:
            account_plans[account_id] = plans[account.plan].with_overrides(
                row_overrides(account.sla)
            )
    for person_id, person in parsed.people.items():
        check_calendar(f"people.{person_id}.calendar", person.calendar)
    check_person("roles.support_lead", parsed.roles.support_lead)
    check_person("roles.support_manager", parsed.roles.support_manager)
    for index, person_id in enumerate(parsed.oncall.people):
        check_person(f"oncall.people[{index}]", person_id)
    for index, override in enumerate(parsed.oncall.overrides):
        check_person(f"oncall.overrides[{index}].person", override.person)
    rule_names: set[str] = set()
    for index, rule in enumerate(parsed.escalation.rules or ()):
        # A rule's name is the stable id of its step in dedupe keys: it must be unique.
        if rule.name is not None:
            if rule.name in rule_names:
                problem(f"escalation.rules[{index}].name", f"duplicate rule name {rule.name!r}")
            rule_names.add(rule.name)
        # "csm|team": the first alternative that resolves; each one must be valid.
        for recipient in (part.strip() for item in rule.notify for part in item.split("|")):
            if recipient in RECIPIENT_KEYWORDS or recipient.startswith("#"):
                continue
            if recipient not in parsed.people:
                problem(
                    f"escalation.rules[{index}].notify",
                    f"unknown recipient {recipient!r}: use {', '.join(sorted(RECIPIENT_KEYWORDS))},"
                    " a person from [people] or a '#channel' (alternatives: 'csm|team')",
                )
    if problems:
        raise ConfigError(problems)
    return Settings(
        file=parsed,
        path=path,
        calendars=MappingProxyType(calendars),
        default_calendar=default_calendar,
        plans=MappingProxyType(plans),
        account_plans=MappingProxyType(account_plans),
        data=data,
    )


_COUNTRIES_PACKAGE = "holidays.countries"
_countries_lock = threading.RLock()


def _defer_country_modules() -> None:
    """Let ``holidays`` import only the country modules asked for.

    ``holidays.country_holidays("BG")`` imports ``holidays.countries.bulgaria``, and Python runs
    the parent package's ``__init__`` first, which imports all ~250 country modules: 0.1-0.15 s
    of ``slawatch run``'s 2 s readiness budget (issue 4) for the one or two countries a
    configuration names. So the package module is created from its real spec and registered
    without running its ``__init__``: submodules import through its ``__path__`` as usual, and
    the first lookup of a name it does not hold yet (``holidays.countries.Germany``,
    ``from holidays.countries import *``) runs the real ``__init__`` in place, so the package
    still offers everything. Nothing happens when it is already imported or looks different.
    """
    with _countries_lock:
        if _COUNTRIES_PACKAGE in sys.modules:
            return
        spec = importlib.util.find_spec(_COUNTRIES_PACKAGE)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return
        loader = spec.loader
        module = importlib.util.module_from_spec(spec)
        completed = False

        def complete(name: str) -> Any:
            nonlocal completed
            with _countries_lock:  # another thread asking meanwhile waits for the names
                if not completed:
                    completed = True
                    loader.exec_module(module)
                    if module.__dict__.get("__getattr__") is complete:
                        del module.__dict__["__getattr__"]
            try:
                return module.__dict__[name]
            except KeyError:
                message = f"module {_COUNTRIES_PACKAGE!r} has no attribute {name!r}"
                raise AttributeError(message) from None

        module.__dict__["__getattr__"] = complete
        sys.modules[_COUNTRIES_PACKAGE] = module
        parent, _, child = _COUNTRIES_PACKAGE.rpartition(".")
        setattr(sys.modules[parent], child, module)


def holiday_checker(
    country: str, subdiv: str | None = None, categories: tuple[str, ...] | None = None
) -> Callable[[date], bool]:
    """A ``date -> is public holiday`` test backed by the ``holidays`` package.

    Raises ``ValueError`` naming the country or subdivision when the package does not know it.
    The package is imported here, not with this module: the embedded defaults name no country.
    """
    import holidays as holidays_lib

    _defer_country_modules()
    try:
        table = holidays_lib.country_holidays(country, subdiv=subdiv, categories=categories or None)
    except NotImplementedError:
        if country not in holidays_lib.list_supported_countries():
            raise ValueError(
                f"unknown holiday country {country!r}; use an ISO 3166 code the holidays "
                "package supports, like 'BG' or 'US'"
            ) from None
        raise ValueError(f"unknown subdivision {subdiv!r} of holiday country {country!r}") from None
    except Exception as exc:  # the package raises several types for bad subdiv/categories
        if categories:
            try:
                known = holidays_lib.country_holidays(country, subdiv=subdiv).supported_categories
            except Exception:  # pragma: no cover - the country itself was accepted above
                known = ()
            unknown = sorted(set(categories) - set(known))
            if known and unknown:
                raise ValueError(
                    f"unknown holiday categor{'y' if len(unknown) == 1 else 'ies'} "
                    f"{', '.join(map(repr, unknown))} for {country!r}; "
                    f"known: {', '.join(sorted(known))}"
                ) from None
        raise ValueError(str(exc)) from None
    return table.__contains__


def build_calendar(name: str, cfg: CalendarConfig) -> BusinessCalendar:
    """Turn a ``[calendars.NAME]`` table into a :class:`BusinessCalendar`."""
    checker = None
    if cfg.holidays is not None:
        try:
            checker = holiday_checker(
                cfg.holidays.country, cfg.holidays.subdiv, cfg.holidays.categories
            )
        except ValueError as exc:
            exc.key_suffix = ".holidays"  # type: ignore[attr-defined]
            raise
    weekly: dict[str, list[Interval]] = {
        day: [parse_interval(i) for i in intervals] for day, intervals in cfg.hours.items()
    }
    open_hours = [parse_interval(i) for i in cfg.open_hours] if cfg.open_hours else None
    business_day = (
        timedelta(seconds=cfg.business_day.seconds) if cfg.business_day is not None else None
    )
    return BusinessCalendar(
        name,
        cfg.timezone,
        weekly,
        holiday_checker=checker,
        closed_dates=cfg.closed,
        open_dates=cfg.open,
        open_hours=open_hours,
        business_day=business_day,
    )


def row_overrides(rows: Mapping[Any, PartialTargetRow]) -> dict[str, dict[str, Duration | None]]:
    return {priority: row.cells() for priority, row in rows.items()}


def apply_plan_config(plan: Plan, cfg: PlanConfig | None) -> Plan:
    """The built-in ``plan`` with the ``[plans.NAME]`` overrides applied."""
    if cfg is None:
        return plan
    from dataclasses import replace

    changes: dict[str, Any] = {}
    for key in (
        "rank",
        "hotline",
        "csm",
        "workshops",
        "custom_reports",
        "restores",
        "included_tickets",
        "calendar",
    ):
        value = getattr(cfg, key)
        if value is not None:
            changes[key] = value
    if "sandboxes" in cfg.model_fields_set:
        changes["sandboxes"] = cfg.sandboxes
    if cfg.meeting_cadence is not None:
        changes["meeting_cadence_months"] = CADENCE_MONTHS[cfg.meeting_cadence]
    updated = replace(plan, **changes)
    return updated.with_overrides(row_overrides(cfg.targets))
