"""Helpers for provider tests: OAuth mailboxes (which the API only creates through OAuth) and a
one-person launch."""
from __future__ import annotations

import base64
import email
import email.policy
from email.message import EmailMessage

from sqlalchemy import select

from server.crypto import fernet_for
from server.models import Email, Mailbox


def oauth_mailbox(app, clock, user_id: int, provider: str, address: str, refresh_token: str) -> int:
    with app.extensions["stepline_sessions"]() as session:
        box = Mailbox(user_id=user_id, provider=provider, address=address, display_name="Ann Seller",
                      secret_enc=fernet_for(app.config).encrypt(refresh_token.encode()).decode(),
                      created_at=clock.now())
        session.add(box)
        session.commit()
        return box.id


def launch_one(rep, make_person, make_campaign, mailbox_id: int, steps: list[dict]) -> int:
    person = make_person(rep, email="pat@prospect.example")
    campaign = make_campaign(rep, steps)
    response = rep.post(f"/campaigns/{campaign['id']}/launch",
                        json={"people": [person], "mailbox_id": mailbox_id, "send_at": "now"})
    assert response.status_code == 200 and response.json["enrolled"], response.json
    return response.json["enrolled"][0]["enrollment_id"]


def emails(app) -> list[Email]:
    with app.extensions["stepline_sessions"]() as session:
        return list(session.scalars(select(Email).order_by(Email.id)))


def parse_raw(raw: str | bytes, urlsafe: bool = True) -> EmailMessage:
    data = base64.urlsafe_b64decode(raw) if urlsafe else base64.b64decode(raw)
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


TWO_STEPS = [
    {"day": 1, "type": "email", "subject": "Hello {{ first_name }}", "body_html": "<p>Hi {{ first_name }}</p>",
     "send_option": "choose_at_launch"},
    {"day": 2, "type": "email", "subject": "x", "body_html": "<p>Following up</p>",
     "send_option": "same_time_as_previous", "follow_up": True},
]
