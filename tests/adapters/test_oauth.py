"""Connecting Gmail and Microsoft mailboxes with the authorization-code flow (only HTTP faked)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from server.crypto import decrypt
from server.models import Mailbox
from tests.adapters.helpers import LOGIN, OPENID

CALLBACK_G = "http://localhost/oauth/google/callback"
CALLBACK_M = "http://localhost/oauth/microsoft/callback"


@pytest.fixture
def configured(app):
    app.config.update(GOOGLE_CLIENT_ID="cid.apps.googleusercontent.com", GOOGLE_CLIENT_SECRET="gsecret",
                      MS_CLIENT_ID="6731de76-14a6-49ae-97bc-6eba6914391e", MS_CLIENT_SECRET="ms-secret")
    return app


def _start(client, rep, provider: str) -> dict[str, list[str]]:
    response = client.get(f"/oauth/{provider}/start", headers={"Authorization": f"Bearer {rep.token}"})
    assert response.status_code == 302, response.data
    return parse_qs(urlsplit(response.headers["Location"]).query) | {
        "_base": [response.headers["Location"].split("?")[0]]}


def test_google_start_sends_the_user_to_consent_for_offline_gmail_access(configured, rep):
    query = _start(configured.test_client(), rep, "google")
    assert query["_base"] == ["https://accounts.google.com/o/oauth2/v2/auth"]
    assert query["client_id"] == ["cid.apps.googleusercontent.com"] and query["redirect_uri"] == [CALLBACK_G]
    assert query["access_type"] == ["offline"] and query["response_type"] == ["code"]
    assert "https://www.googleapis.com/auth/gmail.send" in query["scope"][0].split()


def test_connecting_a_mailbox_needs_a_signed_in_user(configured):
    response = configured.test_client().get("/oauth/google/start")
    assert response.status_code == 401 and response.json["error"]["field"] == "Authorization"


def test_oauth_without_client_configuration_is_a_clear_422(app, rep):
    response = app.test_client().get("/oauth/microsoft/start", headers={"Authorization": f"Bearer {rep.token}"})
    assert response.status_code == 422 and response.json["error"]["field"] == "MS_CLIENT_ID"


@responses.activate
def test_google_callback_creates_a_gmail_mailbox_with_the_refresh_token_encrypted(configured, rep, db_session):
    client = configured.test_client()
    state = _start(client, rep, "google")["state"][0]
    responses.post("https://oauth2.googleapis.com/token", json={
        "access_token": "ya29.a0AfB_new", "expires_in": 3599, "refresh_token": "1//0g-refresh",
        "scope": "openid https://www.googleapis.com/auth/gmail.send", "token_type": "Bearer", "id_token": "eyJ..."})
    responses.get("https://gmail.googleapis.com/gmail/v1/users/me/profile", json={
        "emailAddress": "Ann@Gmail.example", "messagesTotal": 120, "threadsTotal": 80, "historyId": "987654"})
    response = client.get(f"/oauth/google/callback?code=4/0AX4XfWh&state={state}")
    assert response.status_code == 201, response.json
    assert response.json["provider"] == "gmail" and response.json["address"] == "ann@gmail.example"
    form = parse_qs(responses.calls[0].request.body)
    assert form["code"] == ["4/0AX4XfWh"] and form["grant_type"] == ["authorization_code"]
    assert form["redirect_uri"] == [CALLBACK_G] and form["client_secret"] == ["gsecret"]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer ya29.a0AfB_new"
    box = db_session.get(Mailbox, response.json["id"])
    assert box.user_id == rep.user_id and box.secret_enc != "1//0g-refresh"
    assert decrypt(box.secret_enc, configured.config) == "1//0g-refresh"
    assert box.inbound_cursor == "987654"


def test_a_forged_state_is_refused(configured):
    response = configured.test_client().get("/oauth/google/callback?code=x&state=eyJ1IjoxfQ.forged")
    assert response.status_code == 400 and response.json["error"]["field"] == "state"


def test_a_refused_consent_is_reported_not_a_500(configured):
    response = configured.test_client().get("/oauth/google/callback?error=access_denied&state=x")
    assert response.status_code == 400 and "access_denied" in response.json["error"]["message"]


@responses.activate
def test_microsoft_callback_creates_a_graph_mailbox(configured, rep, db_session):
    client = configured.test_client()
    query = _start(client, rep, "microsoft")
    assert query["_base"] == [f"{LOGIN}/common/oauth2/v2.0/authorize"]
    assert "offline_access" in query["scope"][0].split() and query["redirect_uri"] == [CALLBACK_M]
    responses.get(f"{LOGIN}/common/v2.0/.well-known/openid-configuration", json=OPENID)
    responses.post(f"{LOGIN}/common/oauth2/v2.0/token", json={
        "token_type": "Bearer", "scope": "https://graph.microsoft.com/Mail.Send", "expires_in": 4371,
        "access_token": "eyJ0eXAi-new", "refresh_token": "0.AXoA-code-refresh"})
    responses.get("https://graph.microsoft.com/v1.0/me", json={
        "displayName": "Ann Seller", "mail": "ann@contoso.example", "userPrincipalName": "ann@contoso.example"})
    response = client.get(f"/oauth/microsoft/callback?code=M.C507_BAY&state={query['state'][0]}")
    assert response.status_code == 201, response.json
    token_call = next(c for c in responses.calls if c.request.url.endswith("/oauth2/v2.0/token"))
    form = parse_qs(token_call.request.body)
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["M.C507_BAY"]
    assert form["redirect_uri"] == [CALLBACK_M]
    box = db_session.get(Mailbox, response.json["id"])
    assert (box.provider, box.address, box.display_name) == ("graph", "ann@contoso.example", "Ann Seller")
    assert decrypt(box.secret_enc, configured.config) == "0.AXoA-code-refresh"
