"""SMTP AUTH against a real server (aiosmtpd with an authenticator on loopback)."""
from __future__ import annotations

from sqlalchemy import select

from server.models import Email
from server.services.dispatch import run_pass
from tests.adapters.sink import AUTH_PASSWORD, AUTH_USER, smtp_sink  # noqa: F401 - fixture

STEP = [{"day": 1, "type": "email", "subject": "Hi", "body_html": "<p>Hi</p>", "send_option": "choose_at_launch"}]


def _send(app, rep, make_mailbox, make_person, make_campaign, sink, password: str) -> Email:
    mailbox = make_mailbox(rep, address=AUTH_USER, port=sink.port, smtp_username=AUTH_USER, smtp_password=password)
    person = make_person(rep)
    campaign = make_campaign(rep, STEP)
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox, "send_at": "now"})
    run_pass(app)
    with app.extensions["stepline_sessions"]() as session:
        return session.scalars(select(Email)).one()


def test_smtp_auth_logs_in_with_the_stored_password(app, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    email = _send(app, rep, make_mailbox, make_person, make_campaign, smtp_sink, AUTH_PASSWORD)
    assert email.status == "sent" and len(smtp_sink.received) == 1


def test_a_wrong_smtp_password_fails_the_email_with_a_clear_reason(app, rep, make_mailbox, make_person,
                                                                   make_campaign, smtp_sink):
    email = _send(app, rep, make_mailbox, make_person, make_campaign, smtp_sink, "wrong")
    assert email.status == "failed" and email.failure_reason.startswith(f"SMTP authentication failed for {AUTH_USER}")
    assert smtp_sink.received == []
