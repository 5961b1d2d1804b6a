"""Emails as the rep sees them: scheduled, sent, failed with the reason; retry, reschedule."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.errors import Conflict, Invalid, NotFound
from server.models import Email, Enrollment, EnrollmentStep, User
from server.services.dispatch import DUE_STATES

# What each filter of GET /emails shows: "scheduled" is everything still to go out.
STATUS_FILTERS = {
    "scheduled": ("scheduled", "pending", "sending", "paused"),
    "sent": ("sent",),
    "failed": ("failed", "unknown"),
    "cancelled": ("cancelled",),
}


def email_dict(e: Email) -> dict[str, Any]:
    return {"id": e.id, "enrollment_id": e.enrollment_id, "step_id": e.step_id, "task_id": e.task_id,
            "person_id": e.person_id, "to": e.to_addr, "subject": e.subject, "status": e.status,
            "due_at": e.due_at.isoformat() if e.due_at else None,
            "sent_at": e.sent_at.isoformat() if e.sent_at else None,
            "message_id": e.message_id, "failure_reason": e.failure_reason, "follow_up": e.follow_up}


def list_emails(session: Session, user: User, *, status: str | None = None, limit: int = 200,
                offset: int = 0) -> list[Email]:
    query = select(Email).order_by(Email.due_at.desc(), Email.id.desc()).limit(limit).offset(offset)
    if not user.is_admin:
        query = query.where(Email.user_id == user.id)
    if status:
        if status not in STATUS_FILTERS:
            raise Invalid(f"status must be one of {', '.join(STATUS_FILTERS)}", "status")
        query = query.where(Email.status.in_(STATUS_FILTERS[status]))
    return list(session.scalars(query))


def own_email(session: Session, user: User, email_id: int) -> Email:
    email = session.get(Email, email_id)
    if email is None or (email.user_id != user.id and not user.is_admin):
        raise NotFound(f"email {email_id} not found", "email_id")
    return email


def retry(session: Session, user: User, email_id: int, *, now: datetime) -> Email:
    """A human decides that a failed or unknown email should go (again): it is scheduled now.
    The Message-ID is kept, so a receiving server that already has it can drop a duplicate."""
    email = own_email(session, user, email_id)
    if email.status not in ("failed", "unknown"):
        raise Conflict(f"only failed or unknown emails can be retried; this one is {email.status}", "status")
    email.status, email.due_at, email.failure_reason = "scheduled", now, None
    email.claimed_by = email.claimed_at = None
    return email


# Exactly what the dispatcher claims from: only an email no worker has taken yet can be moved.
RESCHEDULABLE = DUE_STATES
# A time picked in a form a few seconds ago is "now", not an error.
PAST_GRACE = timedelta(minutes=1)
_NOT_MOVABLE = {
    "sending": "the email is already being sent and can no longer be rescheduled",
    "sent": "the email was already sent",
    "paused": "the enrollment is paused; resume it to reschedule this email",
    "failed": "the email failed; retry it instead of rescheduling it",
    "unknown": "the email may have been sent; check the recipient's inbox, then retry it",
    "cancelled": "the email was cancelled",
}


def reschedule(session: Session, user: User, email_id: int, *, due_at: datetime, now: datetime) -> Email:
    """Move an email that is still waiting to another instant. The change is one UPDATE
    guarded by the same ``status IN ('scheduled', 'pending')`` the worker claims with, so
    whichever of the two commits first wins: a claimed (``sending``) email is never moved
    under the worker's feet, and a moved one is only claimed at its new time."""
    email = own_email(session, user, email_id)
    if due_at.tzinfo is None:
        raise Invalid("due_at needs a UTC offset", "due_at")
    if due_at < now - PAST_GRACE:
        raise Invalid("due_at is in the past; pick a time from now on", "due_at")
    due_at = max(due_at, now)
    moved = session.execute(
        update(Email).where(Email.id == email.id, Email.status.in_(RESCHEDULABLE))
        .values(status="scheduled", due_at=due_at).execution_options(synchronize_session=False)).rowcount
    session.refresh(email)
    if not moved:
        reason = _NOT_MOVABLE.get(email.status, f"only scheduled emails can be rescheduled; this one is {email.status}")
        raise Conflict(reason, "status")
    if email.enrollment_id and email.step_id:
        # The enrollment's own record of the step (GET /enrollments/{id}, and what a resume
        # re-plans from) follows the email.
        enrollment = session.get(Enrollment, email.enrollment_id)
        row = session.scalars(select(EnrollmentStep).where(EnrollmentStep.enrollment_id == email.enrollment_id,
                                                           EnrollmentStep.step_id == email.step_id)).first()
        if row is not None and enrollment is not None:
            row.due_at, row.date = due_at, due_at.astimezone(ZoneInfo(enrollment.timezone)).date()
    return email
