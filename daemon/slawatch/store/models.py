"""The tables, as SQLAlchemy 2 declarative models (the schema is in ``notes/db-schema.md``).

Models are plain rows: validation lives in :mod:`slawatch.service` and the rules in
:mod:`slawatch.core`. The Alembic migrations in ``store/migrations`` create these tables; a
change here needs a new migration revision (``tests/store/test_migrations.py`` checks that the
migrated schema matches these models).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from slawatch.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

INCIDENT_STATUSES = ("open", "resolved")
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed", "dropped", "cancelled")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Account(Base):
    """A customer account. ``plan`` is the current plan; history is in ``plan_changes``."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    plan: Mapped[str] = mapped_column(String(50))
    calendar: Mapped[str | None] = mapped_column(String(100))
    csm: Mapped[str | None] = mapped_column(String(100))
    contract_start: Mapped[date | None] = mapped_column(Date)
    emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    sla_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    meeting_cadence: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    plan_changes: Mapped[list[PlanChange]] = relationship(
        back_populates="account", order_by="PlanChange.effective_at"
    )


class PlanChange(Base):
    """``plan`` took effect for the account at ``effective_at`` (incidents opened from then)."""

    __tablename__ = "plan_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    plan: Mapped[str] = mapped_column(String(50))
    effective_at: Mapped[datetime]

    account: Mapped[Account] = relationship(back_populates="plan_changes")


class Incident(Base):
    """One helpdesk incident. ``priority`` is the current one, ``opened_priority`` the first.

    ``next_check_at`` is the next instant anything can happen to it (a clock crossing a threshold
    or a due time); ``None`` when nothing more can. The daemon reads only rows whose instant
    has passed, through the ``(status, next_check_at)`` index.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status_next_check_at", "status", "next_check_at"),
        # the full recompute's pages of open incidents in id order (repo.open_incident_ids)
        Index("ix_incidents_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    priority: Mapped[str] = mapped_column(String(20))
    opened_priority: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    via_hotline: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee: Mapped[str | None] = mapped_column(String(200))
    opened_at: Mapped[datetime]
    plan: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="open")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    #: indexed only as (status, next_check_at): every query on it filters on status
    next_check_at: Mapped[datetime | None] = mapped_column()
    last_evaluated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # As of the last evaluation: the earliest due time of a running or breached clock, and
    # whether any clock was breached. They feed the queue, metrics and the sd_notify STATUS
    # line without recomputing every clock. Declared last because migration 0002 added them
    # last: a fresh database created from these models (store.migrate.create_fresh) must have
    # the migrated column order.
    due_at: Mapped[datetime | None]
    breached: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    account: Mapped[Account] = relationship()
    events: Mapped[list[IncidentEventRow]] = relationship(
        back_populates="incident",
        order_by="(IncidentEventRow.at, IncidentEventRow.id)",
        cascade="all, delete-orphan",
    )


class IncidentEventRow(Base):
    """One entry of the append-only history; ``(incident_id, type, at)`` is unique."""

    __tablename__ = "incident_events"
    __table_args__ = (UniqueConstraint("incident_id", "type", "at", name="uq_incident_events_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime]
    by: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]

    incident: Mapped[Incident] = relationship(back_populates="events")


class Notification(Base):
    """The outbox: a notification is written here first, then sent by the dispatcher.

    ``dedupe_key`` is unique, so enqueueing the same decision twice is a no-op. ``status`` moves
    pending -> sending -> sent, or to failed / dropped / cancelled.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
        # the dispatcher's claim order (outbox.claim_rows): urgent first, then due time
        Index(
            "ix_notifications_status_urgent_next_attempt_at", "status", "urgent", "next_attempt_at"
        ),
        # Every evaluation reads its incidents' dedupe keys (repo.sent_keys_by_incident): the
        # key in the index spares visiting the rows (migration 0005). PostgreSQL only: on
        # SQLite the unique dedupe_key index serves that read and the incident's rows in
        # `incident show` as key-prefix ranges ("<incident id>|"; see outbox.incident_key_range),
        # so a new row costs one random index insert fewer (migration 0006). A PostgreSQL text
        # index orders by the database's collation, in which a prefix is not a range.
        Index("ix_notifications_incident_id_dedupe_key", "incident_id", "dedupe_key").ddl_if(
            dialect="postgresql"
        ),
        # Twilio's status callbacks look rows up by message SID; rows not sent yet (every new
        # row) have none, so on SQLite they are left out of the index and inserting them skips
        # it. (Not on PostgreSQL: ``postgresql_where`` here would make every process import
        # that dialect, ~27 modules, just to check the argument.)
        Index(
            "ix_notifications_provider_message_id",
            "provider_message_id",
            sqlite_where=text("provider_message_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(500), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    account_id: Mapped[str | None] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(100))
    repetition: Mapped[int] = mapped_column(Integer, default=0)
    recipient: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(300))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: indexed with status only: every query on it filters on status (migration 0005)
    next_attempt_at: Mapped[datetime] = mapped_column()
    not_before: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    drop_reason: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    delivery_status: Mapped[str | None] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fallback_of: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Thread(Base):
    """Where follow-ups for an incident go: a Slack thread ``ts`` or an email Message-ID."""

    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("incident_id", "channel", "address", name="uq_threads_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300))
    thread_ref: Mapped[str] = mapped_column(String(300))


class Meeting(Base):
    """An alignment meeting held with the account."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]


class Workshop(Base):
    """An onboarding workshop delivered to the account."""

    __tablename__ = "workshops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]


class EntitlementUse(Base):
    """One use of an entitlement (report, restore, ticket, sandbox) in a contract year."""

    __tablename__ = "entitlement_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    used_at: Mapped[datetime]
    contract_year_start: Mapped[date] = mapped_column(Date)
    overage: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
