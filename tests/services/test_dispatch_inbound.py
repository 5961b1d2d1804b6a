"""Replies, auto-replies and bounces to a sent email apply the campaign's settings."""
from __future__ import annotations

import json

from googleapiclient.http import HttpMockSequence
from sqlalchemy import select

from server.adapters.providers import gmail
from server.models import Email, Enrollment, Event
from server.services.dispatch import run_pass
from server.services.inbound import handle_raw, poll_all
from tests.adapters.helpers import oauth_mailbox
from tests.adapters.sink import smtp_sink  # noqa: F401 - fixture
from tests.adapters.test_inbound_classify import dsn

STEPS = [{"day": 1, "type": "email", "subject": "Hello", "body_html": "<p>Hi</p>", "send_option": "choose_at_launch"},
         {"day": 3, "type": "email", "subject": "x", "body_html": "<p>Again</p>",
          "send_option": "same_time_as_previous", "follow_up": True}]


def _sent_campaign(app, rep, make_mailbox, make_person, make_campaign, sink, settings=None, mailbox=None) -> Email:
    mailbox = mailbox or make_mailbox(rep, port=sink.port)
    person = make_person(rep, email="pat@prospect.example")
    campaign = make_campaign(rep, STEPS, settings=settings)
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox, "send_at": "now"})
    run_pass(app)
    with app.extensions["stepline_sessions"]() as session:
        return session.scalars(select(Email).where(Email.status == "sent")).one()


def _reply(to_id: str, extra: str = "") -> bytes:
    return (f"From: Pat <pat@prospect.example>\r\nTo: ann@sales.example\r\nSubject: Re: Hello\r\n{extra}"
            f"Message-ID: <r-{to_id.strip('<>')}>\r\nIn-Reply-To: {to_id}\r\nReferences: {to_id}\r\n\r\nYes!\r\n").encode()


def _apply(app, clock, raw: bytes) -> tuple[str | None, Enrollment, list[str], list[str]]:
    with app.extensions["stepline_sessions"]() as session:
        result = handle_raw(session, raw, now=clock.now())
        session.commit()
        enrollment = session.scalars(select(Enrollment)).one()
        statuses = [e.status for e in session.scalars(select(Email).order_by(Email.id))]
        kinds = [e.type for e in session.scalars(select(Event).order_by(Event.id))]
    return result, enrollment, statuses, kinds


def test_a_reply_ends_the_enrollment_and_cancels_the_scheduled_follow_up(app, clock, rep, make_mailbox,
                                                                          make_person, make_campaign, smtp_sink):
    first = _sent_campaign(app, rep, make_mailbox, make_person, make_campaign, smtp_sink)
    result, enrollment, statuses, kinds = _apply(app, clock, _reply(first.message_id))
    assert result == "replied" and enrollment.state == "replied" and not enrollment.success
    assert statuses == ["sent", "cancelled"] and kinds[-1] == "replied"
    clock.advance(days=3)
    run_pass(app)
    assert len(smtp_sink.received) == 1


def test_on_reply_end_success_marks_the_enrollment_a_success(app, clock, rep, make_mailbox, make_person,
                                                             make_campaign, smtp_sink):
    first = _sent_campaign(app, rep, make_mailbox, make_person, make_campaign, smtp_sink,
                           settings={"on_reply": "end_success"})
    _, enrollment, _, _ = _apply(app, clock, _reply(first.message_id))
    assert (enrollment.state, enrollment.success) == ("replied", True)


def test_on_reply_continue_records_the_reply_and_keeps_going(app, clock, rep, make_mailbox, make_person,
                                                             make_campaign, smtp_sink):
    first = _sent_campaign(app, rep, make_mailbox, make_person, make_campaign, smtp_sink,
                           settings={"on_reply": "continue"})
    _, enrollment, statuses, kinds = _apply(app, clock, _reply(first.message_id))
    assert enrollment.state == "active" and statuses == ["sent", "scheduled"] and kinds[-1] == "replied"


def test_an_out_of_office_is_ignored_when_the_campaign_ignores_auto_replies(app, clock, rep, make_mailbox,
                                                                            make_person, make_campaign, smtp_sink):
    first = _sent_campaign(app, rep, make_mailbox, make_person, make_campaign, smtp_sink)
    result, enrollment, statuses, kinds = _apply(app, clock, _reply(first.message_id, "Auto-Submitted: auto-replied\r\n"))
    assert result == "auto_replied" and enrollment.state == "active" and kinds[-1] == "auto_replied"


def test_an_auto_reply_counts_as_a_reply_when_the_campaign_says_so(app, clock, rep, make_mailbox, make_person,
                                                                   make_campaign, smtp_sink):
    first = _sent_campaign(app, rep, make_mailbox, make_person, make_campaign, smtp_sink,
                           settings={"ignore_auto_replies": False})
    _, enrollment, _, _ = _apply(app, clock, _reply(first.message_id, "X-Autoreply: yes\r\n"))
    assert enrollment.state == "replied"


def test_a_hard_bounce_ends_the_enrollment_as_bounced(app, clock, rep, make_mailbox, make_person, make_campaign,
                                                       smtp_sink):
    first = _sent_campaign(app, rep, make_mailbox, make_person, make_campaign, smtp_sink)
    result, enrollment, statuses, kinds = _apply(app, clock, dsn("failed", "5.1.1", first.message_id))
    assert result == "bounced" and enrollment.state == "bounced" and statuses == ["sent", "cancelled"]
    assert kinds[-1] == "bounced"


def test_a_bounce_is_only_recorded_when_remove_on_bounce_is_off(app, clock, rep, make_mailbox, make_person,
                                                                make_campaign, smtp_sink):
    first = _sent_campaign(app, rep, make_mailbox, make_person, make_campaign, smtp_sink,
                           settings={"remove_on_bounce": False})
    _, enrollment, _, kinds = _apply(app, clock, dsn("failed", "5.1.1", first.message_id))
    assert enrollment.state == "active" and kinds[-1] == "bounced"


def test_gmail_history_polling_finds_the_reply_and_ends_the_enrollment(app, clock, rep, make_person, make_campaign,
                                                                       monkeypatch):
    import base64

    app.config.update(GOOGLE_CLIENT_ID="cid", GOOGLE_CLIENT_SECRET="secret")
    gmail._credentials.clear()
    box = oauth_mailbox(app, clock, rep.user_id, "gmail", "ann@gmail.example", "1//refresh")
    token = ({"status": "200"}, json.dumps({"access_token": "ya29.t", "expires_in": 3599, "token_type": "Bearer"}))
    sequence = HttpMockSequence([token, ({"status": "200"}, json.dumps({"id": "m1", "threadId": "t1"}))])
    monkeypatch.setattr(gmail, "HTTP_FACTORY", lambda: sequence)
    person = make_person(rep, email="pat@prospect.example")
    campaign = make_campaign(rep, STEPS)
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": box, "send_at": "now"})
    run_pass(app)
    with app.extensions["stepline_sessions"]() as session:
        first = session.scalars(select(Email).where(Email.status == "sent")).one()
        from server.models import Mailbox

        session.get(Mailbox, box).inbound_cursor = "1000"
        session.commit()
    raw = base64.urlsafe_b64encode(_reply(first.message_id)).decode()
    sequence._iterable.extend([
        ({"status": "200"}, json.dumps({"history": [
            {"id": "1001", "messagesAdded": [{"message": {"id": "m1", "threadId": "t1", "labelIds": ["SENT"]}}]},
            {"id": "1002", "messagesAdded": [{"message": {"id": "m2", "threadId": "t1", "labelIds": ["INBOX"]}}]}],
            "historyId": "1003"})),
        ({"status": "200"}, json.dumps({"id": "m2", "threadId": "t1", "raw": raw}))])
    assert poll_all(app) == 1
    uri = sequence.request_sequence[2][0]
    assert "/gmail/v1/users/me/history" in uri and "startHistoryId=1000" in uri
    assert "/gmail/v1/users/me/messages/m2" in sequence.request_sequence[3][0]
    with app.extensions["stepline_sessions"]() as session:
        assert session.scalars(select(Enrollment)).one().state == "replied"
        assert session.get(Mailbox, box).inbound_cursor == "1003"


def test_graph_inbox_polling_reads_new_messages_as_mime_and_ends_the_enrollment(app, clock, rep, make_person,
                                                                                 make_campaign):
    from server.models import Mailbox
    from tests.adapters.helpers import fake_microsoft_login
    from tests.adapters.test_graph_provider import MESSAGES, SEND

    box = oauth_mailbox(app, clock, rep.user_id, "graph", "ann@contoso.example", "0.refresh")
    person = make_person(rep, email="pat@prospect.example")
    campaign = make_campaign(rep, STEPS)
    with fake_microsoft_login(app) as http:
        http.post(SEND, status=202)
        http.get(MESSAGES, json={"value": []})
        rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": box, "send_at": "now"})
        run_pass(app)
        with app.extensions["stepline_sessions"]() as session:
            first = session.scalars(select(Email).where(Email.status == "sent")).one()
            session.get(Mailbox, box).inbound_cursor = "2026-03-02T13:00:00Z"
            session.commit()
        inbox = "https://graph.microsoft.com/v1.0/me/mailFolders/inbox/messages"
        http.get(inbox, json={"value": [{"id": "AAMkReply1", "receivedDateTime": "2026-03-02T13:05:00Z"}]})
        http.get(f"{MESSAGES}/AAMkReply1/$value", body=_reply(first.message_id),
                 content_type="message/rfc822")
        assert poll_all(app) == 1
        listing = next(c for c in http.calls if c.request.url.startswith(inbox))
        assert "receivedDateTime+gt+2026-03-02T13%3A00%3A00Z" in listing.request.url
    with app.extensions["stepline_sessions"]() as session:
        assert session.scalars(select(Enrollment)).one().state == "replied"
        assert session.get(Mailbox, box).inbound_cursor == "2026-03-02T13:05:00Z"
