"""The shape of ``slawatch.toml``: every key, its type, its default and its checks.

Each model forbids unknown keys (a misspelled key is an error, never silently ignored) and is
frozen. Values that need the whole file to check (a calendar name used by a plan, a person named
by a role) are checked afterwards in :mod:`slawatch.config.loader`, which also turns the raw
sections into ready-to-use calendars and plans. ``config/slawatch.toml`` documents every key.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from slawatch.config.secrets import check_secret_ref, is_secret_ref
from slawatch.core.calendar import WEEKDAYS, parse_interval
from slawatch.core.durations import (
    Duration,
    parse_duration,
    parse_signed_duration,
    parse_wall_duration,
)
from slawatch.core.plans import CADENCE_MONTHS, PLAN_NAMES, PRIORITIES, TARGETS

Channel = Literal["slack", "email", "sms"]
CHANNELS: tuple[str, ...] = ("slack", "email", "sms")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        arbitrary_types_allowed=True,
        populate_by_name=True,
    )


# --------------------------------------------------------------------------- value types
def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    return parse_duration(value)


def _business_duration(value: Any) -> Duration:
    duration = _duration(value)
    if duration.immediate:
        raise ValueError("'immediate' is only allowed as a high-priority response target")
    return duration


def _wall(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_wall_duration(value)


def _positive_wall(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


def _days(value: Any) -> int:
    """Calendar days, written ``14`` or ``"14d"`` (not business days: meetings are dates)."""
    if isinstance(value, int) and not isinstance(value, bool):
        days = value
    elif isinstance(value, str) and re.fullmatch(r"\d+d", value.strip()):
        days = int(value.strip()[:-1])
    else:
        raise ValueError(f"expected a number of days like '14d', got {value!r}")
    if days < 0:
        raise ValueError("must not be negative")
    return days


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name like 'Europe/Sofia')"
        ) from None
    return value


def _intervals(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("expected an interval like '09:00-18:00' or a list of them")
    parsed = [parse_interval(item) for item in items]
    ordered = sorted(parsed, key=lambda i: i.start_min)
    for left, right in pairwise(ordered):
        if right.start_min < left.end_min:
            raise ValueError(f"intervals {left} and {right} overlap")
    return tuple(items)


def _cell(value: Any) -> Duration | None:
    if value == "-":
        return None
    return _duration(value)


def _phone(value: str) -> str:
    if not E164.match(value):
        raise ValueError(f"{value!r} is not an E.164 phone number like '+359881234567'")
    return value


def _when(value: str) -> str:
    text = value.strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            raise ValueError(f"cannot parse {value!r}; write e.g. '75%'") from None
        if not 0 < percent <= 100:
            raise ValueError("a percentage must be above 0% and at most 100%")
        return text
    if text == "breach":
        return "+0m"
    parse_signed_duration(text)
    return text


DurationField = Annotated[Duration, BeforeValidator(_duration), PlainSerializer(str)]
BusinessDuration = Annotated[Duration, BeforeValidator(_business_duration), PlainSerializer(str)]
WallDuration = Annotated[timedelta, BeforeValidator(_wall), AfterValidator(_positive_wall)]
Days = Annotated[int, BeforeValidator(_days)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
Intervals = Annotated[tuple[str, ...], BeforeValidator(_intervals)]
Cell = Annotated[Duration | None, BeforeValidator(_cell), PlainSerializer(str)]
SecretRef = Annotated[str, AfterValidator(check_secret_ref)]
Phone = Annotated[str, AfterValidator(_phone)]
When = Annotated[str, AfterValidator(_when)]
Priority = Literal["high", "medium", "low", "cosmetic"]
Target = Literal["response", "workaround", "resolution"]
PlanName = Literal["standard", "business", "enterprise", "premium"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Cadence = Literal["none", "biannual", "quarterly", "monthly", "annual"]

assert set(PRIORITIES) == {"high", "medium", "low", "cosmetic"}
assert set(TARGETS) == {"response", "workaround", "resolution"}
assert set(PLAN_NAMES) == {"standard", "business", "enterprise", "premium"}
assert set(WEEKDAYS) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
assert set(CADENCE_MONTHS) == {"none", "biannual", "quarterly", "monthly", "annual"}


# ------------------------------------------------------------------------------ calendars
class HolidaysConfig(Strict):
    country: str
    subdiv: str | None = None
    categories: tuple[str, ...] | None = None


class CalendarConfig(Strict):
    timezone: TimeZoneName
    hours: dict[Weekday, Intervals]
    holidays: HolidaysConfig | None = None
    closed: tuple[date, ...] = ()
    open: tuple[date, ...] = ()
    open_hours: Intervals | None = None
    business_day: BusinessDuration | None = None

    @model_validator(mode="after")
    def _check(self) -> CalendarConfig:
        if not self.hours:
            raise ValueError("hours: a calendar needs working hours on at least one weekday")
        both = set(self.closed) & set(self.open)
        if both:
            raise ValueError(f"dates listed in both 'open' and 'closed': {sorted(both)}")
        if self.business_day is not None and self.business_day.days:
            raise ValueError("business_day must be in hours/minutes, e.g. '9h'")
        return self


# ---------------------------------------------------------------------------------- plans
class TargetRow(Strict):
    response: Cell = None
    workaround: Cell = None
    resolution: Cell = None


class PartialTargetRow(Strict):
    """Override cells; a key left out keeps the plan's value ('-' removes the target)."""

    response: Cell = None
    workaround: Cell = None
    resolution: Cell = None

    def cells(self) -> dict[str, Duration | None]:
        return {name: getattr(self, name) for name in TARGETS if name in self.model_fields_set}


def _sandboxes(value: Any) -> int | None:
    if value == "multiple":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError("expected a number of sandboxes or 'multiple'")


class PlanConfig(Strict):
    rank: int | None = Field(default=None, ge=0)
    hotline: bool | None = None
    csm: bool | None = None
    meeting_cadence: Cadence | None = None
    workshops: int | None = Field(default=None, ge=0)
    custom_reports: int | None = Field(default=None, ge=0)
    restores: int | None = Field(default=None, ge=0)
    sandboxes: Annotated[int | None, BeforeValidator(_sandboxes)] = None
    included_tickets: int | None = Field(default=None, ge=0)
    calendar: str | None = None
    targets: dict[Priority, PartialTargetRow] = {}


class SlaConfig(Strict):
    hotline_ack_within: WallDuration = timedelta(minutes=15)
    clock_skew: WallDuration = timedelta(minutes=2)


# ------------------------------------------------------------------------------- accounts
class AccountConfig(Strict):
    """An account declared in the file; it is upserted into the database at start."""

    name: str
    plan: PlanName
    calendar: str | None = None
    csm: str | None = None
    contract_start: date | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[Phone, ...] = ()
    active: bool = True
    meeting_cadence: Cadence | None = None
    sla: dict[Priority, PartialTargetRow] = {}

    @model_validator(mode="after")
    def _premium_only(self) -> AccountConfig:
        if self.sla and self.plan != "premium":
            raise ValueError("sla: only premium ('Custom SLA') accounts may override targets")
        return self


# ------------------------------------------------------------------ people, roles, on-call
class PersonConfig(Strict):
    name: str | None = None
    email: str | None = None
    slack: str | None = None
    phone: Phone | None = None
    calendar: str | None = None


class RolesConfig(Strict):
    support_lead: str | None = None
    support_manager: str | None = None
    team_channel: str | None = None


class OncallOverride(Strict):
    start: date
    end: date
    person: str

    @model_validator(mode="after")
    def _order(self) -> OncallOverride:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


_HANDOFF = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):([0-5]\d)$")


def _handoff(value: str) -> str:
    if not _HANDOFF.match(value.strip().lower()):
        raise ValueError(f"cannot parse handoff {value!r}; write it like 'mon 09:00'")
    return value.strip().lower()


class OncallConfig(Strict):
    people: tuple[str, ...] = ()
    handoff: Annotated[str, AfterValidator(_handoff)] = "mon 09:00"
    timezone: TimeZoneName = "UTC"
    overrides: tuple[OncallOverride, ...] = ()
    page_repeat: WallDuration = timedelta(minutes=5)


# ----------------------------------------------------------------------------- escalation
class EscalationRule(Strict):
    name: str | None = None
    when: When
    targets: tuple[Target, ...] = TARGETS  # type: ignore[assignment]
    priorities: tuple[Priority, ...] = PRIORITIES  # type: ignore[assignment]
    plans: tuple[PlanName, ...] = PLAN_NAMES  # type: ignore[assignment]
    notify: tuple[str, ...]
    channels: tuple[Channel, ...] = ("slack",)
    repeat: BusinessDuration | None = None
    anytime: bool = False

    @model_validator(mode="after")
    def _check(self) -> EscalationRule:
        if not self.notify:
            raise ValueError("notify: name at least one recipient")
        if not self.channels:
            raise ValueError("channels: name at least one channel")
        if self.repeat is not None and not self.when.startswith("+"):
            raise ValueError("repeat is only allowed on rules after the breach ('+0m')")
        return self


class EscalationConfig(Strict):
    """``rules`` left out means the built-in defaults (see the README)."""

    rules: tuple[EscalationRule, ...] | None = None


# ---------------------------------------------------------------------- daemon, delivery
class DaemonConfig(Strict):
    scan_interval: WallDuration = timedelta(seconds=30)
    dispatch_interval: WallDuration = timedelta(seconds=2)
    housekeeping_interval: WallDuration = timedelta(hours=1)
    misfire_grace: WallDuration = timedelta(minutes=5)
    shutdown_timeout: WallDuration = timedelta(seconds=8)
    keep_sent_days: int = Field(default=90, ge=1)
    #: Worker processes that decide part of each big scan batch (runtime/scanpool.py);
    #: unset: one fewer than the CPUs, at most 2; 0: none.
    scan_workers: int | None = Field(default=None, ge=0, le=16)


class DeliveryConfig(Strict):
    fallback: dict[Channel, tuple[Channel, ...]] = {
        "slack": ("email",),
        "email": ("slack",),
        "sms": (),
    }
    max_attempts: int = Field(default=8, ge=1)
    retry_initial: WallDuration = timedelta(seconds=10)
    retry_max: WallDuration = timedelta(minutes=30)
    channel_rate_per_minute: dict[Channel, int] = {"slack": 50, "email": 120, "sms": 60}
    recipient_rate_per_minute: dict[Channel, int] = {"slack": 20, "email": 20, "sms": 12}


class DatabaseConfig(Strict):
    url: str | None = None

    @model_validator(mode="after")
    def _no_plain_password(self) -> DatabaseConfig:
        url = self.url
        if url is None:
            return self
        if not url.startswith(("sqlite", "postgresql")):
            raise ValueError("url: only sqlite:/// and postgresql+psycopg:// URLs are supported")
        match = re.match(r"^[a-z+]+://([^:/@]+):([^@]*)@", url)
        if match and not re.fullmatch(r"\{(?:env|credential|file):[^{}]+\}", match.group(2)):
            raise ValueError(
                "url: the password must be a secret reference like "
                "'postgresql+psycopg://slawatch:{env:PGPASSWORD}@host/db'"
            )
        return self


_LISTEN = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")


def _listen(value: str) -> str:
    match = _LISTEN.match(value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError(f"cannot parse listen address {value!r}; write it like '127.0.0.1:8087'")
    return value


class ApiConfig(Strict):
    enabled: bool = True
    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8087"
    tokens: tuple[SecretRef, ...] = ()
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    public_url: str | None = None


# ---------------------------------------------------------------------------- providers
class SlackConfig(Strict):
    token: SecretRef
    base_url: str = "https://slack.com/api/"
    timeout: WallDuration = timedelta(seconds=10)


class SmsConfig(Strict):
    account_sid: str
    auth_token: SecretRef
    from_: Phone | None = Field(default=None, alias="from")
    messaging_service_sid: str | None = None
    base_url: str = "https://api.twilio.com"
    status_callback: str | None = None
    timeout: WallDuration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _one_sender(self) -> SmsConfig:
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of 'from' and 'messaging_service_sid'")
        if is_secret_ref(self.account_sid):
            raise ValueError("account_sid: the account SID is an identifier, not a secret")
        return self


class EmailConfig(Strict):
    host: str
    port: int = Field(default=587, gt=0, lt=65536)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    from_: str = Field(alias="from")
    timeout: WallDuration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _auth_pair(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both 'username' and 'password', or neither")
        return self


class TemplatesConfig(Strict):
    dir: str | None = None


class LinksConfig(Strict):
    incident_url: str | None = None

    @model_validator(mode="after")
    def _placeholder(self) -> LinksConfig:
        if self.incident_url is not None and "{id}" not in self.incident_url:
            raise ValueError("incident_url: must contain '{id}'")
        return self


class OutputConfig(Strict):
    """The embedded senders used when a provider is not configured."""

    console: bool = True
    jsonl_path: str | None = None


# ------------------------------------------------------------------ meetings, entitlements
class MeetingsConfig(Strict):
    remind_before: tuple[Days, ...] = (14, 3)
    grace: Days = 7
    overdue_repeat: Days = 7
    reminder_time: Annotated[str, AfterValidator(lambda v: _handoff("mon " + v)[4:])] = "09:00"


class WorkshopsConfig(Strict):
    check_at_fraction: float = Field(default=0.5, gt=0, le=1)
    min_fraction_delivered: float = Field(default=0.5, gt=0, le=1)


class LoggingConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


# ------------------------------------------------------------------------------ the file
class ConfigFile(Strict):
    """The whole file. Every section has defaults; an empty file is valid."""

    default_calendar: str | None = None
    calendars: dict[str, CalendarConfig] = {}
    plans: dict[PlanName, PlanConfig] = {}
    sla: SlaConfig = SlaConfig()
    accounts: dict[str, AccountConfig] = {}
    people: dict[str, PersonConfig] = {}
    roles: RolesConfig = RolesConfig()
    oncall: OncallConfig = OncallConfig()
    escalation: EscalationConfig = EscalationConfig()
    daemon: DaemonConfig = DaemonConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    database: DatabaseConfig = DatabaseConfig()
    api: ApiConfig = ApiConfig()
    slack: SlackConfig | None = None
    sms: SmsConfig | None = None
    email: EmailConfig | None = None
    templates: TemplatesConfig = TemplatesConfig()
    links: LinksConfig = LinksConfig()
    output: OutputConfig = OutputConfig()
    meetings: MeetingsConfig = MeetingsConfig()
    workshops: WorkshopsConfig = WorkshopsConfig()
    logging: LoggingConfig = LoggingConfig()
