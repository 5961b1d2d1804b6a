"""The dispatcher: claim due emails, check them, send them, record the result.

Claiming is an UPDATE from ``scheduled`` to ``sending`` guarded by the old status, so two
workers can never both own one email; an email is sent only by the worker whose claim
succeeded, and the (enrollment, step) unique constraint means it exists only once.
"""
from __future__ import annotations

import logging
import os
import smtplib
import socket
import uuid
from datetime import datetime

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.adapters.mail import build_message
from server.clock import get_clock
from server.crypto import decrypt
from server.models import Email, Enrollment, Mailbox, Person, User
from server.services import events
from server.services.engine import finish_current_step

log = logging.getLogger("stepline.dispatch")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_pass(app: Flask, batch: int = 100) -> int:
    """Send what is due now; returns how many emails were handled."""
    with app.app_context():
        factory = app.extensions["stepline_sessions"]
        now = get_clock().now()
        with factory() as session:
            ids = list(session.scalars(select(Email.id).where(Email.status == "scheduled", Email.due_at <= now)
                                       .order_by(Email.due_at).limit(batch)))
        handled = 0
        for email_id in ids:
            with factory() as session:
                if not _claim(session, email_id, now):
                    continue
                handled += 1
                _deliver(app, session, email_id)
        return handled


def _claim(session: Session, email_id: int, now: datetime) -> bool:
    result = session.execute(update(Email).where(Email.id == email_id, Email.status == "scheduled")
                             .values(status="sending", claimed_by=WORKER_ID, claimed_at=now,
                                     attempts=Email.attempts + 1))
    session.commit()
    return result.rowcount == 1


def _fail(session: Session, email: Email, reason: str, now: datetime) -> None:
    email.status, email.failure_reason = "failed", reason
    events.record(session, "failed", at=now, user_id=email.user_id, person_id=email.person_id,
                  step_id=email.step_id, enrollment_id=email.enrollment_id, email_id=email.id,
                  data={"reason": reason})
    session.commit()


def _deliver(app: Flask, session: Session, email_id: int) -> None:
    email = session.get(Email, email_id)
    now = get_clock().now()
    person = session.get(Person, email.person_id)
    enrollment = session.get(Enrollment, email.enrollment_id) if email.enrollment_id else None
    if person.unsubscribed:
        return _fail(session, email, "person unsubscribed", now)
    if enrollment is not None and enrollment.state != "active":
        return _fail(session, email, "campaign has ended", now)
    mailbox = session.get(Mailbox, email.mailbox_id) if email.mailbox_id else None
    if mailbox is None:
        return _fail(session, email, "no mailbox to send from", now)
    user = session.get(User, email.user_id)
    message = build_message(email, mailbox, user, app.config)
    try:
        _smtp_send(mailbox, message, app.config)
    except (smtplib.SMTPException, OSError) as exc:
        email.status, email.failure_reason = "scheduled", f"retrying: {exc}"
        session.commit()
        return None
    email.status, email.sent_at, email.failure_reason = "sent", now, None
    events.record(session, "sent", at=now, user_id=email.user_id, person_id=email.person_id,
                  campaign_id=enrollment.campaign_id if enrollment else None, step_id=email.step_id,
                  enrollment_id=email.enrollment_id, email_id=email.id, data={"subject": email.subject})
    if enrollment is not None and enrollment.current_step_id == email.step_id:
        finish_current_step(session, enrollment, done_at=now, now=now)
    session.commit()
    return None


def _smtp_send(mailbox: Mailbox, message, config) -> None:
    cls = smtplib.SMTP_SSL if mailbox.smtp_ssl else smtplib.SMTP
    with cls(mailbox.smtp_host, mailbox.smtp_port or 587, timeout=30) as smtp:
        if mailbox.smtp_starttls and not mailbox.smtp_ssl:
            smtp.starttls()
        if mailbox.smtp_username and mailbox.secret_enc:
            smtp.login(mailbox.smtp_username, decrypt(mailbox.secret_enc, config))
        smtp.send_message(message)
