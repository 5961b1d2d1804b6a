"""Sending through Microsoft Graph with the real msal and requests; only HTTP is faked (responses)
with bodies shaped like the documented ones, and the exact requests are asserted."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from server.crypto import decrypt
from server.models import Mailbox
from server.services.dispatch import run_pass
from tests.adapters.helpers import (LOGIN, TWO_STEPS, emails, fake_microsoft_login, launch_one,
                                   oauth_mailbox, parse_raw)

SEND = "https://graph.microsoft.com/v1.0/me/sendMail"
MESSAGES = "https://graph.microsoft.com/v1.0/me/messages"


def found(message_id: str, conversation: str = "AAQkADAwATM0MDAAMS1iNjU") -> dict:
    return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('me')/messages(id,conversationId)",
            "value": [{"@odata.etag": 'W/"CQAAABYAAAB"', "id": "AAMkAGI2TG93AAA=", "conversationId": conversation,
                       "internetMessageId": message_id}]}


@pytest.fixture
def http(app):
    with fake_microsoft_login(app) as mock:
        yield mock


@pytest.fixture
def graph_box(app, clock, rep):
    return oauth_mailbox(app, clock, rep.user_id, "graph", "ann@contoso.example", "0.AXoA-first-refresh")


def _calls(mock, url_prefix: str):
    return [c for c in mock.calls if c.request.url.startswith(url_prefix)]


def test_graph_sends_base64_mime_keeps_our_message_id_and_learns_the_conversation(
        app, clock, rep, make_person, make_campaign, http, graph_box):
    launch_one(rep, make_person, make_campaign, graph_box, TWO_STEPS)
    http.post(SEND, status=202)
    first_id = emails(app)[0].message_id
    http.get(MESSAGES, json=found(first_id))
    assert run_pass(app) == 1

    (token_call,) = _calls(http, f"{LOGIN}/common/oauth2/v2.0/token")
    form = parse_qs(token_call.request.body)
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["0.AXoA-first-refresh"]
    assert form["client_id"] == ["6731de76-14a6-49ae-97bc-6eba6914391e"]
    assert "https://graph.microsoft.com/Mail.Send" in form["scope"][0].split()

    (send,) = _calls(http, SEND)
    assert send.request.headers["Authorization"] == "Bearer eyJ0eXAiOiJKV1QiLCJub25jZSI6"
    assert send.request.headers["Content-Type"] == "text/plain"
    message = parse_raw(send.request.body, urlsafe=False)
    assert message["Message-ID"] == first_id and message["To"] == "pat@prospect.example"
    (lookup,) = _calls(http, MESSAGES)
    assert parse_qs(urlsplit(lookup.request.url).query)["$filter"] == [f"internetMessageId eq '{first_id}'"]
    first = emails(app)[0]
    assert (first.status, first.provider_message_id, first.provider_thread_id) == (
        "sent", "AAMkAGI2TG93AAA=", "AAQkADAwATM0MDAAMS1iNjU")
    with app.extensions["stepline_sessions"]() as session:  # the rotated refresh token is kept, encrypted
        assert decrypt(session.get(Mailbox, graph_box).secret_enc, app.config) == "0.AXoA-rotated-refresh"

    clock.advance(days=1)
    http.replace(responses.GET, MESSAGES, json=found(emails(app)[1].message_id))
    assert run_pass(app) == 1
    reply = parse_raw(_calls(http, SEND)[1].request.body, urlsafe=False)
    assert reply["In-Reply-To"] == first_id and reply["References"] == first_id
    assert reply["Subject"] == "Re: Hello Pat"
    assert emails(app)[1].provider_thread_id == "AAQkADAwATM0MDAAMS1iNjU"
    assert len(_calls(http, f"{LOGIN}/common/oauth2/v2.0/token")) == 1  # the access token is reused


def test_graph_throttling_429_waits_for_retry_after(app, clock, rep, make_person, make_campaign, http, graph_box):
    launch_one(rep, make_person, make_campaign, graph_box, TWO_STEPS[:1])
    http.post(SEND, status=429, headers={"Retry-After": "17"},
              json={"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}})
    run_pass(app)
    (email,) = emails(app)
    assert (email.status, email.due_at) == ("scheduled", clock.now() + timedelta(seconds=17))
    assert "MailboxConcurrency" in email.failure_reason


def test_graph_503_is_retried_with_backoff_then_sent_once(app, clock, rep, make_person, make_campaign, http,
                                                          graph_box):
    launch_one(rep, make_person, make_campaign, graph_box, TWO_STEPS[:1])
    http.post(SEND, status=503, json={"error": {"code": "ServiceUnavailable", "message": "try later"}})
    run_pass(app)
    assert emails(app)[0].status == "scheduled" and emails(app)[0].attempts == 1
    http.replace(responses.POST, SEND, status=202)
    http.get(MESSAGES, json={"value": []})
    clock.advance(seconds=30)
    run_pass(app)
    assert emails(app)[0].status == "sent" and len(_calls(http, SEND)) == 2


def test_a_graph_timeout_after_sending_is_reconciled_by_internet_message_id_not_resent(
        app, clock, rep, make_person, make_campaign, http, graph_box):
    import requests

    launch_one(rep, make_person, make_campaign, graph_box, TWO_STEPS[:1])
    http.post(SEND, body=requests.ReadTimeout("read timed out"))
    run_pass(app)
    (email,) = emails(app)
    assert email.status == "sending"  # maybe sent: left for reconciliation, not retried
    http.get(MESSAGES, json=found(email.message_id))
    clock.advance(seconds=119)
    run_pass(app)
    assert emails(app)[0].status == "sending"
    clock.advance(seconds=2)
    run_pass(app)
    email = emails(app)[0]
    assert (email.status, email.provider_message_id) == ("sent", "AAMkAGI2TG93AAA=")
    assert len(_calls(http, SEND)) == 1


def test_an_expired_microsoft_authorization_fails_the_email_asking_to_reconnect(
        app, rep, make_person, make_campaign, http, graph_box):
    launch_one(rep, make_person, make_campaign, graph_box, TWO_STEPS[:1])
    http.replace(responses.POST, f"{LOGIN}/common/oauth2/v2.0/token", status=400, json={
        "error": "invalid_grant", "error_description": "AADSTS70000: The refresh token has expired.",
        "error_codes": [70000]})
    run_pass(app)
    (email,) = emails(app)
    assert email.status == "failed" and "reconnect ann@contoso.example" in email.failure_reason
