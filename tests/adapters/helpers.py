"""Helpers for provider tests: OAuth mailboxes (which the API only creates through OAuth) and a
one-person launch."""
from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

import responses
from googleapiclient.http import HttpMockSequence

from sqlalchemy import select

from server.adapters.providers import gmail, graph
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


# Microsoft's sign-in endpoints as msal reads them (documented OpenID configuration and token answer).
LOGIN = "https://login.microsoftonline.com"
OPENID = {
    "token_endpoint": f"{LOGIN}/common/oauth2/v2.0/token",
    "authorization_endpoint": f"{LOGIN}/common/oauth2/v2.0/authorize",
    "issuer": f"{LOGIN}/{{tenantid}}/v2.0",
    "device_authorization_endpoint": f"{LOGIN}/common/oauth2/v2.0/devicecode",
    "end_session_endpoint": f"{LOGIN}/common/oauth2/v2.0/logout",
    "jwks_uri": f"{LOGIN}/common/discovery/v2.0/keys",
    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
    "scopes_supported": ["openid", "profile", "email", "offline_access"],
}
TOKEN = {"token_type": "Bearer", "scope": "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/Mail.Read",
         "expires_in": 4371, "ext_expires_in": 4371, "access_token": "eyJ0eXAiOiJKV1QiLCJub25jZSI6",
         "refresh_token": "0.AXoA-rotated-refresh"}


def fake_gmail_transport(app, monkeypatch) -> HttpMockSequence:
    """Google's HTTP faked for the Gmail provider: queue answers on the returned sequence."""
    app.config.update(GOOGLE_CLIENT_ID="cid.apps.googleusercontent.com", GOOGLE_CLIENT_SECRET="csecret")
    gmail._credentials.clear()
    sequence = HttpMockSequence([])
    monkeypatch.setattr(gmail, "HTTP_FACTORY", lambda: sequence)
    return sequence


@contextmanager
def fake_microsoft_login(app, token: dict = TOKEN) -> Iterator[responses.RequestsMock]:
    """msal's sign-in faked with ``responses``; add the Graph calls to the yielded mock."""
    app.config.update(MS_CLIENT_ID="6731de76-14a6-49ae-97bc-6eba6914391e", MS_CLIENT_SECRET="ms-secret")
    graph._tokens.clear()
    graph._apps.clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{LOGIN}/common/v2.0/.well-known/openid-configuration", json=OPENID)
        mock.post(f"{LOGIN}/common/oauth2/v2.0/token", json=token)
        yield mock
