"""The storage model (SQLAlchemy 2 typed ORM).

Rules that must hold even when two workers or two requests race are constraints here, in
the database, not only checks in Python:

* a person is active (or paused) in a given campaign at most once: a partial unique index;
* one row per enrollment and step (``enrollment_steps``) and at most one email per
  enrollment and step (``emails``): unique constraints, so an email can never be created,
  and so never sent, twice for the same step.

All instants are stored in UTC (``UtcDateTime`` turns them back into aware datetimes, which
SQLite would otherwise lose).
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always gives back aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, date: Date, time: Time}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(10))  # admin | rep
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    password_hash: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    # The rep's Salesforce User (owner of the Tasks synced for them), found by email; checked_at
    # with no id means "no active User with this email" (looked up again a day later).
    salesforce_user_id: Mapped[str | None] = mapped_column(String(18))
    salesforce_user_checked_at: Mapped[datetime | None]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ApiToken(Base):
    """API tokens are stored as SHA-256 digests: a database leak gives no usable token."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="joined")


class ExternalIdentity(Base):
    """A Google or Microsoft account mapped to a Stepline user (add-in sign-in)."""

    __tablename__ = "external_identities"
    __table_args__ = (UniqueConstraint("provider", "tenant", "subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[str] = mapped_column(String(100), default="")
    subject: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class Mailbox(Base):
    __tablename__ = "mailboxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    provider: Mapped[str] = mapped_column(String(10))  # smtp | gmail | graph
    address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    smtp_host: Mapped[str | None] = mapped_column(String(255))
    smtp_port: Mapped[int | None]
    smtp_starttls: Mapped[bool] = mapped_column(default=False)
    smtp_ssl: Mapped[bool] = mapped_column(default=False)
    smtp_username: Mapped[str | None] = mapped_column(String(320))
    secret_enc: Mapped[str | None] = mapped_column(Text)  # SMTP password or OAuth refresh token, encrypted
    imap_host: Mapped[str | None] = mapped_column(String(255))
    imap_port: Mapped[int | None]
    daily_cap: Mapped[int | None]
    minute_cap: Mapped[int | None]
    # Inbound polling state: the last IMAP UID, Gmail historyId or Graph delta link seen.
    inbound_cursor: Mapped[str | None] = mapped_column(Text)
    inbound_polled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Template(Base):
    __tablename__ = "templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(998))
    body_html: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unsubscribed: Mapped[bool] = mapped_column(default=False)
    unsubscribed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    skip_weekends: Mapped[bool] = mapped_column(default=True)
    holidays: Mapped[str | None] = mapped_column(String(10))
    remove_on_bounce: Mapped[bool] = mapped_column(default=True)
    on_reply: Mapped[str] = mapped_column(String(20), default="end")
    ignore_auto_replies: Mapped[bool] = mapped_column(default=True)
    timezone: Mapped[str] = mapped_column(String(10), default="sender")
    send_window_start: Mapped[time | None]
    send_window_end: Mapped[time | None]
    track_opens: Mapped[bool] = mapped_column(default=True)
    track_clicks: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    steps: Mapped[list[Step]] = relationship(
        back_populates="campaign",
        order_by="(Step.day, Step.position)",
        primaryjoin="and_(Step.campaign_id == Campaign.id, Step.deleted_at.is_(None))",
        viewonly=True,
    )


class Step(Base):
    """A step of a campaign. Removed steps are kept (``deleted_at``) because enrollments and
    sent emails still point at them."""

    __tablename__ = "steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    day: Mapped[int]
    position: Mapped[int]
    type: Mapped[str] = mapped_column(String(10))  # email | call | inmail | custom
    send_option: Mapped[str | None] = mapped_column(String(30))
    time: Mapped[time | None]
    follow_up: Mapped[bool] = mapped_column(default=False)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"))
    subject: Mapped[str | None] = mapped_column(String(998))
    body_html: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    deleted_at: Mapped[datetime | None]
    campaign: Mapped[Campaign] = relationship(back_populates="steps")
    template: Mapped[Template | None] = relationship(lazy="joined")


ACTIVE_STATES = ("active", "paused")


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        Index(
            "uq_enrollments_one_active_per_campaign",
            "campaign_id",
            "person_id",
            unique=True,
            sqlite_where=text("state IN ('active', 'paused')"),
            postgresql_where=text("state IN ('active', 'paused')"),
        ),
        Index("ix_enrollments_user_state", "user_id", "state"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id"))
    state: Mapped[str] = mapped_column(String(20), default="active")
    success: Mapped[bool] = mapped_column(default=False)
    timezone: Mapped[str] = mapped_column(String(64))  # the zone its local dates are computed in
    day1: Mapped[date]
    current_step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"))
    send_at: Mapped[datetime | None]  # explicit first-email instant chosen at launch
    step_times: Mapped[dict[str, Any]] = mapped_column(default=dict)
    paused_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    campaign: Mapped[Campaign] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")


class EnrollmentStep(Base):
    """One step of one enrollment, created when the step becomes current."""

    __tablename__ = "enrollment_steps"
    __table_args__ = (UniqueConstraint("enrollment_id", "step_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"))
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id"))
    status: Mapped[str] = mapped_column(String(20))  # current | done | skipped | cancelled
    date: Mapped[date]
    due_at: Mapped[datetime | None]
    became_current_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    email_id: Mapped[int | None] = mapped_column(ForeignKey("emails.id"))


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_user_status_due", "user_id", "status", "due_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.id"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"))
    type: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | completed | skipped
    due_date: Mapped[date]
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    notes: Mapped[str | None] = mapped_column(Text)
    email_to: Mapped[str | None] = mapped_column(String(320))
    email_subject: Mapped[str | None] = mapped_column(String(998))
    email_body_html: Mapped[str | None] = mapped_column(Text)
    email_quoted_html: Mapped[str | None] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str | None] = mapped_column(Text)
    provider_thread_id: Mapped[str | None] = mapped_column(String(200))
    draft_provider: Mapped[str | None] = mapped_column(String(20))
    draft_id: Mapped[str | None] = mapped_column(String(200))
    draft_thread_id: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    person: Mapped[Person] = relationship(lazy="joined")
    campaign: Mapped[Campaign | None] = relationship(lazy="joined")


class Email(Base):
    """One email. Campaign emails are unique per (enrollment, step): the database itself
    forbids a second copy. ``campaign_subject``/``campaign_body_html`` keep the email as the
    campaign's template rendered it, which is what a later follow-up quotes, whatever the
    rep edited before sending."""

    __tablename__ = "emails"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id"),
        Index("ix_emails_status_due", "status", "due_at"),
        Index("ix_emails_user_status", "user_id", "status"),
        Index("ix_emails_mailbox_sent", "mailbox_id", "sent_at"),
        Index("ix_emails_status_claimed", "status", "claimed_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.id"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    body_html: Mapped[str] = mapped_column(Text)
    campaign_subject: Mapped[str | None] = mapped_column(String(998))
    campaign_body_html: Mapped[str | None] = mapped_column(Text)
    follow_up: Mapped[bool] = mapped_column(default=False)
    # scheduled | pending | sending | sent | failed | unknown | cancelled
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    due_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    provider_thread_id: Mapped[str | None] = mapped_column(String(200))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # The links of the email as sent, in order: a click token names an index into this list,
    # so a redirect can only ever go to a URL that was in the email (issue 7).
    tracked_links: Mapped[list[str] | None] = mapped_column(JSON)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_user_id_id", "user_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"))
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.id"))
    email_id: Mapped[int | None] = mapped_column(ForeignKey("emails.id"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- Engagement and CRM (issue 7) -------------------------------------------------------

# Campaign stats group events by campaign and type.
Index("ix_events_campaign_type", Event.campaign_id, Event.type)


class CrmOutbox(Base):
    """Every write to the CRM (Salesforce) waits here until the CRM has taken it: a CRM outage
    delays the write, it never blocks sending and never loses it."""

    __tablename__ = "crm_outbox"
    __table_args__ = (Index("ix_crm_outbox_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # task_create | task_status | opt_out
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | done | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class CrmRecord(Base):
    """A Stepline row (an email task or a sent email) and the CRM record written for it.

    ``local_status`` is the status last queued for the CRM, so a change on either side is
    noticed by comparing, without hooks in the code that changes tasks."""

    __tablename__ = "crm_records"
    __table_args__ = (UniqueConstraint("local_kind", "local_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    local_kind: Mapped[str] = mapped_column(String(10))  # task | email
    local_id: Mapped[int]
    remote_id: Mapped[str | None] = mapped_column(String(40), index=True)
    local_status: Mapped[str | None] = mapped_column(String(20))
    remote_status: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    synced_at: Mapped[datetime | None]


class SignInFailure(Base):
    """One failed (or in-flight) web sign-in for a key: a digest of the account's email or of
    the client IP. Kept in the database, not in memory, so every worker process sees the same
    count (``server.services.sign_in_limits``); rows older than the window are pruned."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
