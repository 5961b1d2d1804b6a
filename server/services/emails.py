"""Emails as the rep sees them: scheduled, sent, failed with the reason; retry."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, Invalid, NotFound
from server.models import Email, User

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
