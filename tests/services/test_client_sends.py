"""Email tasks sent from the rep's own Gmail/Outlook complete from the mailbox (SPEC §6): the real
google-api-python-client, msal and requests, only HTTP faked with bodies shaped like the
documented users.threads.get and Graph message-list answers; the real database."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from server.models import Email, Enrollment, EnrollmentStep, Event, Mailbox, Step, Task, User
from server.services.client_sends import detect_client_sends
from server.services.dispatch import run_pass
from server.services.inbound import poll_all
from server.services.tasks import record_draft
from tests.adapters.helpers import fake_gmail_transport, fake_microsoft_login, oauth_mailbox

SENT_ITEMS = "https://graph.microsoft.com/v1.0/me/mailFolders/sentitems/messages"
INBOX = "https://graph.microsoft.com/v1.0/me/mailFolders/inbox/messages"
GOOGLE_TOKEN = ({"status": "200", "content-type": "application/json"},
                json.dumps({"access_token": "ya29.a0AfB_test", "expires_in": 3599, "token_type": "Bearer"}))

# Day 1 sent by Stepline, day 3 a follow-up the rep writes (an email task), day 5 a call.
FOLLOW_UP_TASK = [
    {"day": 1, "type": "email", "subject": "Hello {{ first_name }}", "body_html": "<p>Hi {{ first_name }}</p>",
     "send_option": "choose_at_launch"},
    {"day": 3, "type": "email", "subject": "x", "body_html": "<p>Any thoughts?</p>", "send_option": "task",
     "follow_up": True},
    {"day": 5, "type": "call"},
]
# An email task from day 1, then a call.
EMAIL_TASK = [{"day": 1, "type": "email", "subject": "Intro for {{ first_name }}", "body_html": "<p>Hi</p>",
               "send_option": "task"},
              {"day": 3, "type": "call"}]


def ms(dt) -> str:
    return str(int(dt.timestamp() * 1000))


def thread_message(mid: str, thread: str, labels: list[str], when, to: str, subject: str, message_id: str) -> dict:
    """A message as users.threads.get(format=metadata) returns it."""
    return {"id": mid, "threadId": thread, "labelIds": labels, "snippet": "Any thoughts?", "historyId": "9120",
            "internalDate": ms(when), "sizeEstimate": 2301,
            "payload": {"partId": "", "mimeType": "multipart/alternative", "filename": "",
                        "headers": [{"name": "To", "value": to}, {"name": "Subject", "value": subject},
                                    {"name": "Message-ID", "value": message_id}]}}


def sent_item(to: str, subject: str, when: str, message_id: str, conversation: str = "AAQkADconv1") -> dict:
    """A message as GET /me/mailFolders/sentitems/messages?$select=... returns it."""
    return {"@odata.etag": 'W/"CQAAABYAAAB"', "id": "AAMkAGI2" + message_id.strip("<>").split("@")[0], "subject": subject,
            "sentDateTime": when, "internetMessageId": message_id, "conversationId": conversation,
            "toRecipients": [{"emailAddress": {"name": "Pat Lee", "address": to}}]}


def listing(*items: dict) -> dict:
    return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('me')/mailFolders('sentitems')/"
                              "messages(internetMessageId,toRecipients,subject,sentDateTime,conversationId)",
            "value": list(items)}


def launch(api, make_person, make_campaign, mailbox_id: int, steps, email: str) -> int:
    person = make_person(api, email=email)
    campaign = make_campaign(api, steps)
    body = {"people": [person], "mailbox_id": mailbox_id}
    if steps[0].get("send_option") == "choose_at_launch":
        body["send_at"] = "now"
    response = api.post(f"/campaigns/{campaign['id']}/launch", json=body)
    assert response.status_code == 200 and response.json["enrolled"], response.json
    return response.json["enrolled"][0]["enrollment_id"]


def state(app, enrollment_id: int) -> dict:
    """What the rep sees: the task statuses, the emails and the step now current."""
    with app.extensions["stepline_sessions"]() as session:
        enrollment = session.get(Enrollment, enrollment_id)
        current = session.get(Step, enrollment.current_step_id) if enrollment.current_step_id else None
        return {
            "tasks": [(t.type, t.status) for t in session.scalars(
                select(Task).where(Task.enrollment_id == enrollment_id).order_by(Task.id))],
            "emails": session.scalars(select(Email).where(Email.enrollment_id == enrollment_id)
                                      .order_by(Email.id)).all(),
            "current_type": current.type if current else None,
            "events": session.scalar(select(func.count(Event.id))),
            "steps": [(r.step_id, r.status, r.done_at) for r in session.scalars(
                select(EnrollmentStep).where(EnrollmentStep.enrollment_id == enrollment_id)
                .order_by(EnrollmentStep.id))],
        }


def detect(app, clock, mailbox_id: int) -> int:
    with app.extensions["stepline_sessions"]() as session:
        return detect_client_sends(session, session.get(Mailbox, mailbox_id), clock.now(), app.config)


# ---------------------------------------------------------------------------- Gmail


@pytest.fixture
def gmail_http(app, monkeypatch):
    return fake_gmail_transport(app, monkeypatch)


def _gmail_follow_up_task(app, clock, rep, make_person, make_campaign, gmail_http):
    """Launch, let Stepline send day 1 through Gmail, reach day 3 and open its task as a draft."""
    box = oauth_mailbox(app, clock, rep.user_id, "gmail", "ann@gmail.example", "1//0refresh")
    enrollment_id = launch(rep, make_person, make_campaign, box, FOLLOW_UP_TASK, "pat@prospect.example")
    gmail_http._iterable.extend([GOOGLE_TOKEN, ({"status": "200"}, json.dumps(
        {"id": "18c2f0a1b2c3d4e5", "threadId": "18c2f0a1b2c3d4e5", "labelIds": ["SENT"]}))])
    assert run_pass(app) == 1
    first_sent_at = clock.now()
    clock.advance(days=2)
    with app.extensions["stepline_sessions"]() as session:
        first = session.scalars(select(Email).where(Email.enrollment_id == enrollment_id)).one()
        task = session.scalars(select(Task).where(Task.enrollment_id == enrollment_id)).one()
        assert task.email_subject == "Re: Hello Pat"
        record_draft(session, session.get(User, rep.user_id), task.id, provider="gmail", draft_id="r-5501",
                     thread_id="18c2f0a1b2c3d4e5")
        session.commit()
        return box, enrollment_id, first.message_id, first_sent_at, task.id


def test_a_gmail_draft_sent_by_the_rep_completes_the_task_and_the_next_step_becomes_current(
        app, clock, rep, make_person, make_campaign, gmail_http):
    box, enrollment_id, first_id, first_at, task_id = _gmail_follow_up_task(app, clock, rep, make_person,
                                                                             make_campaign, gmail_http)
    sent_at = clock.now() + timedelta(minutes=7)
    clock.advance(minutes=10)
    thread = {"id": "18c2f0a1b2c3d4e5", "historyId": "9120", "messages": [
        thread_message("18c2f0a1b2c3d4e5", "18c2f0a1b2c3d4e5", ["SENT"], first_at, "pat@prospect.example",
                       "Hello Pat", first_id),
        thread_message("18c2f0a1b2c3d5aa", "18c2f0a1b2c3d4e5", ["SENT"], sent_at, "Pat Lee <Pat@Prospect.example>",
                       "Re: Hello Pat", "<CAJ7rep-own@mail.gmail.com>")]}
    gmail_http._iterable.append(({"status": "200"}, json.dumps(thread)))

    assert detect(app, clock, box) == 1

    uri = gmail_http.request_sequence[-1][0]
    assert urlsplit(uri).path == "/gmail/v1/users/me/threads/18c2f0a1b2c3d4e5"
    query = parse_qs(urlsplit(uri).query)
    assert query["format"] == ["metadata"] and set(query["metadataHeaders"]) >= {"To", "Subject", "Message-ID"}
    seen = state(app, enrollment_id)
    assert seen["tasks"] == [("email", "completed"), ("call", "open")] and seen["current_type"] == "call"
    follow = seen["emails"][1]
    assert (follow.status, follow.message_id, follow.provider_thread_id, follow.subject, follow.sent_at) == (
        "sent", "<CAJ7rep-own@mail.gmail.com>", "18c2f0a1b2c3d4e5", "Re: Hello Pat", sent_at)
    assert follow.campaign_subject == "Re: Hello Pat" and "Any thoughts?" in follow.body_html
    assert follow.task_id == task_id and follow.to_addr == "pat@prospect.example"
    # The step is done when the rep sent it, not when the poll noticed.
    assert seen["steps"][1][1:] == ("done", sent_at)
    with app.extensions["stepline_sessions"]() as session:
        kinds = [e.type for e in session.scalars(select(Event).order_by(Event.id))]
    assert kinds == ["enrolled", "sent", "task_created", "task_completed", "sent", "task_created"]


def test_a_gmail_thread_without_the_reps_sent_message_completes_nothing_and_a_second_poll_is_a_no_op(
        app, clock, rep, make_person, make_campaign, gmail_http):
    box, enrollment_id, first_id, first_at, _ = _gmail_follow_up_task(app, clock, rep, make_person,
                                                                      make_campaign, gmail_http)
    still_draft = {"id": "18c2f0a1b2c3d4e5", "historyId": "9120", "messages": [
        thread_message("18c2f0a1b2c3d4e5", "18c2f0a1b2c3d4e5", ["SENT"], first_at, "pat@prospect.example",
                       "Hello Pat", first_id),
        thread_message("18c2f0a1b2c3d5aa", "18c2f0a1b2c3d4e5", ["DRAFT"], clock.now(), "pat@prospect.example",
                       "Re: Hello Pat", "<CAJ7draft@mail.gmail.com>")]}
    gmail_http._iterable.append(({"status": "200"}, json.dumps(still_draft)))
    assert detect(app, clock, box) == 0  # Stepline's own day-1 email in the thread does not count
    assert state(app, enrollment_id)["tasks"] == [("email", "open")]

    sent = {"id": "18c2f0a1b2c3d4e5", "historyId": "9130", "messages": still_draft["messages"][:1] + [
        thread_message("18c2f0a1b2c3d5aa", "18c2f0a1b2c3d4e5", ["SENT"], clock.now(), "pat@prospect.example",
                       "Re: Hello Pat", "<CAJ7draft@mail.gmail.com>")]}
    gmail_http._iterable.extend([({"status": "200"}, json.dumps(sent))] * 2)
    assert detect(app, clock, box) == 1
    before = state(app, enrollment_id)
    calls = len(gmail_http.request_sequence)
    assert detect(app, clock, box) == 0
    after = state(app, enrollment_id)
    assert len(gmail_http.request_sequence) == calls  # no open drafted task left: Gmail is not even asked
    assert len(after["emails"]) == len(before["emails"]) == 2 and after["events"] == before["events"]
    assert after["tasks"] == [("email", "completed"), ("call", "open")]


# ---------------------------------------------------------------------------- Microsoft Graph


@pytest.fixture
def ms_http(app):
    with fake_microsoft_login(app) as mock:
        mock.get(INBOX, json={"value": []})
        yield mock


def test_an_outlook_sent_item_matching_recipient_and_subject_completes_the_task_through_the_poll(
        app, clock, rep, make_person, make_campaign, ms_http):
    box = oauth_mailbox(app, clock, rep.user_id, "graph", "ann@contoso.example", "0.AXoA-refresh")
    enrollment_id = launch(rep, make_person, make_campaign, box, EMAIL_TASK, "pat@prospect.example")
    clock.advance(hours=2)
    ms_http.get(SENT_ITEMS, json=listing(
        sent_item("someone@else.example", "Intro for Pat", "2026-03-02T14:00:00Z", "<a@contoso.example>"),
        sent_item("pat@prospect.example", "Lunch?", "2026-03-02T14:05:00Z", "<b@contoso.example>"),
        sent_item("pat@prospect.example", "RE: Intro for Pat", "2026-03-02T14:30:00Z",
                  "<DM6PR11MB1@namprd11.prod.outlook.com>", "AAQkADpat")))

    poll_all(app)

    listing_call = next(c for c in ms_http.calls if c.request.url.startswith(SENT_ITEMS))
    query = parse_qs(urlsplit(listing_call.request.url).query)
    assert query["$filter"] == ["sentDateTime ge 2026-03-02T13:00:00Z"]
    assert set(query["$select"][0].split(",")) == {"internetMessageId", "toRecipients", "subject", "sentDateTime",
                                                   "conversationId"}
    seen = state(app, enrollment_id)
    assert seen["tasks"] == [("email", "completed"), ("call", "open")] and seen["current_type"] == "call"
    [email] = seen["emails"]
    assert (email.status, email.message_id, email.provider_thread_id, email.to_addr) == (
        "sent", "<DM6PR11MB1@namprd11.prod.outlook.com>", "AAQkADpat", "pat@prospect.example")
    assert email.sent_at.isoformat() == "2026-03-02T14:30:00+00:00"


def test_outlook_sent_items_that_do_not_match_an_open_task_change_nothing(app, clock, rep, make_person,
                                                                           make_campaign, ms_http):
    box = oauth_mailbox(app, clock, rep.user_id, "graph", "ann@contoso.example", "0.AXoA-refresh")
    enrollment_id = launch(rep, make_person, make_campaign, box, EMAIL_TASK, "pat@prospect.example")
    clock.advance(hours=2)
    ms_http.get(SENT_ITEMS, json=listing(
        sent_item("someone@else.example", "Intro for Pat", "2026-03-02T14:00:00Z", "<a@contoso.example>"),
        sent_item("pat@prospect.example", "Lunch?", "2026-03-02T14:05:00Z", "<b@contoso.example>"),
        # sent before the task existed: an older conversation with the same subject
        sent_item("pat@prospect.example", "Intro for Pat", "2026-03-02T12:00:00Z", "<c@contoso.example>")))
    before = state(app, enrollment_id)
    assert detect(app, clock, box) == 0
    after = state(app, enrollment_id)
    assert after["tasks"] == [("email", "open")] and after["emails"] == [] and after["events"] == before["events"]


def test_a_second_outlook_poll_records_nothing_twice(app, clock, rep, make_person, make_campaign, ms_http):
    box = oauth_mailbox(app, clock, rep.user_id, "graph", "ann@contoso.example", "0.AXoA-refresh")
    first_id = launch(rep, make_person, make_campaign, box, EMAIL_TASK, "pat@prospect.example")
    second_id = launch(rep, make_person, make_campaign, box, EMAIL_TASK, "lee@prospect.example")
    clock.advance(hours=2)
    ms_http.get(SENT_ITEMS, json=listing(
        sent_item("pat@prospect.example", "Intro for Pat", "2026-03-02T14:30:00Z", "<pat@contoso.example>")))
    assert detect(app, clock, box) == 1
    before = state(app, first_id)
    # Lee's task is still open, so the next poll lists Sent Items again and sees Pat's message again.
    assert detect(app, clock, box) == 0
    after = state(app, first_id)
    assert len(after["emails"]) == 1 and after["events"] == before["events"] and after["steps"] == before["steps"]
    assert state(app, second_id)["tasks"] == [("email", "open")]


def test_another_reps_tasks_are_never_completed_by_a_mailbox_that_is_not_theirs(
        app, clock, rep, make_user, make_person, make_campaign, ms_http, gmail_http):
    other = make_user("bo@example.com")
    box = oauth_mailbox(app, clock, rep.user_id, "graph", "ann@contoso.example", "0.AXoA-refresh")
    other_box = oauth_mailbox(app, clock, other.user_id, "graph", "bo@contoso.example", "0.AXoA-other")
    mine = launch(rep, make_person, make_campaign, box, EMAIL_TASK, "pat@prospect.example")
    theirs = launch(other, make_person, make_campaign, other_box, EMAIL_TASK, "lee@prospect.example")
    with app.extensions["stepline_sessions"]() as session:  # even a Gmail draft of theirs is not looked at
        task = session.scalars(select(Task).where(Task.enrollment_id == theirs)).one()
        task.draft_provider, task.draft_id, task.draft_thread_id = "gmail", "r-1", "18c2f0ffff"
        session.commit()
    gmail_box = oauth_mailbox(app, clock, rep.user_id, "gmail", "ann@gmail.example", "1//0refresh")
    clock.advance(hours=2)
    ms_http.get(SENT_ITEMS, json=listing(
        sent_item("lee@prospect.example", "Intro for Pat", "2026-03-02T14:30:00Z", "<x@contoso.example>")))
    assert detect(app, clock, box) == 0 and detect(app, clock, gmail_box) == 0
    assert any(c.request.url.startswith(SENT_ITEMS) for c in ms_http.calls)  # listed for ann's own task
    assert gmail_http.request_sequence == []  # ann has no Gmail draft; bo's is never asked about
    assert state(app, mine)["tasks"] == [("email", "open")]
    assert state(app, theirs)["tasks"] == [("email", "open")] and state(app, theirs)["emails"] == []


def test_smtp_mailboxes_have_no_sent_items_to_read(app, clock, rep, make_mailbox, make_person, make_campaign):
    box = make_mailbox(rep)
    enrollment_id = launch(rep, make_person, make_campaign, box, EMAIL_TASK, "pat@prospect.example")
    assert detect(app, clock, box) == 0
    assert state(app, enrollment_id)["tasks"] == [("email", "open")]
