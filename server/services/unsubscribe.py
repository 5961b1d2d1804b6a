"""Unsubscribe and re-subscribe a person.

An unsubscribe is final for the campaigns that were running (SPEC §4): every active or paused
enrollment of the person ends in state ``unsubscribed``, every email still waiting to go to
them is cancelled, and the dispatcher refuses any later send (it checks ``Person.unsubscribed``).
Only an admin may undo it, and re-subscribing does not restart the ended enrollments: the rep
launches them again on purpose.

The link in each email (``List-Unsubscribe``, RFC 8058) carries a token signed with
SECRET_KEY naming the person and the email, built by ``server.adapters.mail.unsubscribe_url``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.models import ACTIVE_STATES, Email, Enrollment, Person
from server.services import enrollments as enrollment_service
from server.services import events

SALT = "unsubscribe"
REASON = "person unsubscribed"


def read_token(config: Mapping[str, Any], token: str) -> tuple[int, int | None] | None:
    """(person id, email id) of a genuine token; None when forged, edited or malformed."""
    try:
        value = URLSafeSerializer(config["SECRET_KEY"], salt=SALT).loads(token)
    except BadData:
        return None
    if not isinstance(value, dict):
        return None
    person_id, email_id = value.get("p"), value.get("e")
    if not isinstance(person_id, int) or isinstance(person_id, bool):
        return None
    if email_id is not None and (not isinstance(email_id, int) or isinstance(email_id, bool)):
        return None
    return person_id, email_id


def person_for_token(session: Session, config: Mapping[str, Any], token: str) -> tuple[Person, Email | None] | None:
    """The person (and the email the link came in) of a token, or None: a token whose email
    does not belong to its person is treated as forged."""
    ids = read_token(config, token)
    if ids is None:
        return None
    person = session.get(Person, ids[0])
    if person is None:
        return None
    email = session.get(Email, ids[1]) if ids[1] is not None else None
    if ids[1] is not None and (email is None or email.person_id != person.id):
        return None
    return person, email


def unsubscribe(session: Session, person: Person, *, now: datetime, source: str, email: Email | None = None,
                actor_user_id: int | None = None) -> bool:
    """Unsubscribe ``person``; returns False when they already were (nothing is recorded twice).

    One ``unsubscribed`` event is recorded per enrollment it ends (so each owning rep sees it
    in their Live Feed), attributed to the email's step when the link came in that email."""
    if person.unsubscribed:
        return False
    person.unsubscribed, person.unsubscribed_at = True, now
    recorded = False
    active = list(session.scalars(select(Enrollment).where(Enrollment.person_id == person.id,
                                                           Enrollment.state.in_(ACTIVE_STATES))
                                  .order_by(Enrollment.id)))
    for enrollment in active:
        from_this = email is not None and email.enrollment_id == enrollment.id
        step_id = email.step_id if from_this else enrollment.current_step_id
        enrollment_service.end(session, enrollment, "unsubscribed", now=now, reason=REASON)
        events.record(session, "unsubscribed", at=now, user_id=enrollment.user_id, person_id=person.id,
                      campaign_id=enrollment.campaign_id, step_id=step_id, enrollment_id=enrollment.id,
                      email_id=email.id if from_this else None, data={"source": source})
        recorded = recorded or from_this
    session.execute(update(Email).where(Email.person_id == person.id,
                                        Email.status.in_(("scheduled", "pending", "paused")))
                    .values(status="cancelled", failure_reason=REASON))
    if email is not None and not recorded:
        # The link came in an email whose enrollment had already ended: still count it there.
        enrollment = session.get(Enrollment, email.enrollment_id) if email.enrollment_id else None
        events.record(session, "unsubscribed", at=now, user_id=email.user_id, person_id=person.id,
                      campaign_id=enrollment.campaign_id if enrollment else None, step_id=email.step_id,
                      enrollment_id=email.enrollment_id, email_id=email.id, data={"source": source})
    elif email is None and not active:
        events.record(session, "unsubscribed", at=now, user_id=actor_user_id, person_id=person.id,
                      data={"source": source})
    _queue_crm_opt_out(session, person, True, now)
    return True


def resubscribe(session: Session, person: Person, *, now: datetime) -> bool:
    """Clear the flag (admins only, checked by the API). Ended enrollments stay ended."""
    if not person.unsubscribed:
        return False
    person.unsubscribed, person.unsubscribed_at = False, None
    _queue_crm_opt_out(session, person, False, now)
    return True


def _queue_crm_opt_out(session: Session, person: Person, opted_out: bool, now: datetime) -> None:
    """Salesforce's HasOptedOutOfEmail follows, through the CRM outbox (when configured)."""
    from server.services import crm_sync

    crm_sync.enqueue_opt_out(session, person.email, opted_out, now=now)
