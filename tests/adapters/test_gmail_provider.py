"""Sending through the Gmail API with the real google-api-python-client and google-auth; only the
HTTP transport is faked (HttpMockSequence), and the exact requests are asserted."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from server.adapters.providers import gmail
from server.models import Email
from server.services.dispatch import run_pass
from tests.adapters.helpers import TWO_STEPS, emails, fake_gmail_transport, launch_one, oauth_mailbox, parse_raw

TOKEN = ({"status": "200", "content-type": "application/json"},
         json.dumps({"access_token": "ya29.a0AfB_test", "expires_in": 3599, "token_type": "Bearer",
                     "scope": " ".join(gmail.SCOPES)}))


def sent_answer(message_id: str, thread_id: str):
    return ({"status": "200", "content-type": "application/json"},
            json.dumps({"id": message_id, "threadId": thread_id, "labelIds": ["SENT"]}))


@pytest.fixture
def transport(app, monkeypatch):
    return fake_gmail_transport(app, monkeypatch)


@pytest.fixture
def gmail_box(app, clock, rep):
    return oauth_mailbox(app, clock, rep.user_id, "gmail", "ann@gmail.example", "1//0refresh-token")


def test_gmail_sends_raw_mime_with_our_message_id_and_the_follow_up_stays_in_the_thread(
        app, clock, rep, make_person, make_campaign, transport, gmail_box):
    launch_one(rep, make_person, make_campaign, gmail_box, TWO_STEPS)
    transport._iterable.extend([TOKEN, sent_answer("18c2f0a1b2c3d4e5", "18c2f0a1b2c3d4e5")])
    assert run_pass(app) == 1

    token_uri, method, body, _ = transport.request_sequence[0]
    assert (token_uri, method) == ("https://oauth2.googleapis.com/token", "POST")
    form = parse_qs(body.decode() if isinstance(body, bytes) else body)
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["1//0refresh-token"]
    assert form["client_id"] == ["cid.apps.googleusercontent.com"] and form["client_secret"] == ["csecret"]

    uri, method, body, headers = transport.request_sequence[1]
    assert method == "POST" and urlsplit(uri).path == "/gmail/v1/users/me/messages/send"
    assert headers["authorization"] == "Bearer ya29.a0AfB_test"
    sent_body = json.loads(body)
    assert set(sent_body) == {"raw"}  # a new conversation: no threadId
    first = emails(app)[0]
    message = parse_raw(sent_body["raw"])
    assert message["Message-ID"] == first.message_id and message["Subject"] == "Hello Pat"
    assert (first.status, first.provider_message_id, first.provider_thread_id) == (
        "sent", "18c2f0a1b2c3d4e5", "18c2f0a1b2c3d4e5")

    clock.advance(days=1)
    transport._iterable.append(sent_answer("18c2f0a1b2c3d4ff", "18c2f0a1b2c3d4e5"))
    assert run_pass(app) == 1
    uri, method, body, _ = transport.request_sequence[2]  # the access token is reused
    follow = json.loads(body)
    assert follow["threadId"] == "18c2f0a1b2c3d4e5"
    reply = parse_raw(follow["raw"])
    assert reply["Subject"] == "Re: Hello Pat" and reply["In-Reply-To"] == first.message_id
    assert emails(app)[1].status == "sent"


def test_gmail_429_is_honoured_with_its_retry_after(app, clock, rep, make_person, make_campaign, transport,
                                                    gmail_box):
    launch_one(rep, make_person, make_campaign, gmail_box, TWO_STEPS[:1])
    transport._iterable.extend([TOKEN, ({"status": "429", "retry-after": "120"}, json.dumps(
        {"error": {"code": 429, "message": "User-rate limit exceeded.", "status": "RESOURCE_EXHAUSTED"}}))])
    run_pass(app)
    (email,) = emails(app)
    assert (email.status, email.due_at, email.attempts) == ("scheduled", clock.now() + timedelta(seconds=120), 0)
    assert "User-rate limit exceeded" in email.failure_reason


def test_gmails_daily_sending_limit_holds_the_email_for_the_rolling_day(app, clock, rep, make_person, make_campaign,
                                                                        transport, gmail_box):
    launch_one(rep, make_person, make_campaign, gmail_box, TWO_STEPS[:1])
    transport._iterable.extend([TOKEN, ({"status": "429"}, json.dumps({"error": {
        "code": 429, "message": "Daily user sending limit exceeded. For more information on Gmail sending limits, "
        "see the Gmail Help Center.", "errors": [{"reason": "dailyLimitExceeded", "domain": "usageLimits"}],
        "status": "RESOURCE_EXHAUSTED"}}))])
    run_pass(app)
    (email,) = emails(app)
    assert (email.status, email.due_at) == ("pending", clock.now() + timedelta(hours=24))
    assert "Daily user sending limit exceeded" in email.failure_reason


def test_gmail_500_is_retried_with_backoff(app, clock, rep, make_person, make_campaign, transport, gmail_box):
    launch_one(rep, make_person, make_campaign, gmail_box, TWO_STEPS[:1])
    transport._iterable.extend([TOKEN, ({"status": "500"}, json.dumps(
        {"error": {"code": 500, "message": "Backend Error", "status": "INTERNAL"}})),
        sent_answer("18c3", "18c3")])
    run_pass(app)
    (email,) = emails(app)
    assert (email.status, email.attempts, email.due_at) == ("scheduled", 1, clock.now() + timedelta(seconds=30))
    clock.advance(seconds=30)
    run_pass(app)
    assert emails(app)[0].status == "sent" and len(transport.request_sequence) == 3


def test_a_revoked_google_authorization_fails_the_email_asking_to_reconnect(
        app, rep, make_person, make_campaign, transport, gmail_box):
    launch_one(rep, make_person, make_campaign, gmail_box, TWO_STEPS[:1])
    transport._iterable.append(({"status": "400", "content-type": "application/json"}, json.dumps(
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})))
    run_pass(app)
    (email,) = emails(app)
    assert email.status == "failed" and "reconnect ann@gmail.example" in email.failure_reason


def _interrupted(app, clock) -> int:
    with app.extensions["stepline_sessions"]() as session:
        session.execute(update(Email).values(status="sending", claimed_by="dead:9:x!", claimed_at=clock.now(),
                                             attempts=1))
        session.commit()
    clock.advance(minutes=3)
    return emails(app)[0].id


def test_an_interrupted_gmail_send_found_by_rfc822msgid_is_marked_sent_not_resent(
        app, clock, rep, make_person, make_campaign, transport, gmail_box):
    launch_one(rep, make_person, make_campaign, gmail_box, TWO_STEPS[:1])
    _interrupted(app, clock)
    transport._iterable.extend([TOKEN, ({"status": "200"}, json.dumps(
        {"messages": [{"id": "18c9", "threadId": "18c8"}], "resultSizeEstimate": 1}))])
    run_pass(app)
    uri, method, _, _ = transport.request_sequence[1]
    query = parse_qs(urlsplit(uri).query)
    assert method == "GET" and urlsplit(uri).path == "/gmail/v1/users/me/messages"
    assert query["q"] == ["rfc822msgid:" + emails(app)[0].message_id.strip("<>")]
    (email,) = emails(app)
    assert (email.status, email.provider_message_id, email.provider_thread_id) == ("sent", "18c9", "18c8")
    assert len(transport.request_sequence) == 2  # no send


def test_an_interrupted_gmail_send_that_gmail_does_not_have_is_sent_once(
        app, clock, rep, make_person, make_campaign, transport, gmail_box):
    launch_one(rep, make_person, make_campaign, gmail_box, TWO_STEPS[:1])
    _interrupted(app, clock)
    transport._iterable.extend([TOKEN, ({"status": "200"}, json.dumps({"resultSizeEstimate": 0})),
                                sent_answer("18d0", "18d0")])
    run_pass(app)
    assert [urlsplit(r[0]).path for r in transport.request_sequence] == [
        "/token", "/gmail/v1/users/me/messages", "/gmail/v1/users/me/messages/send"]
    assert emails(app)[0].status == "sent"
