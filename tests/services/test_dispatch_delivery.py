"""Delivery to a real SMTP server (aiosmtpd on loopback): what arrives, byte for byte where it matters."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from server.models import Email
from server.services.dispatch import run_pass
from tests.adapters.sink import smtp_sink  # noqa: F401 - fixture

THREE_EMAILS = [
    {"day": 1, "type": "email", "subject": "Quick question, {{ first_name }}",
     "body_html": "<p>Hi {{ first_name }}, first note.</p>", "send_option": "choose_at_launch"},
    {"day": 3, "type": "email", "subject": "ignored", "body_html": "<p>Second note for {{ first_name }}.</p>",
     "send_option": "task", "follow_up": True},
    {"day": 5, "type": "email", "subject": "ignored", "body_html": "<p>Last note.</p>",
     "send_option": "same_time_as_previous", "follow_up": True},
]


def _emails(app) -> list[Email]:
    with app.extensions["stepline_sessions"]() as session:
        return list(session.scalars(select(Email).order_by(Email.id)))


def _launch(rep, make_mailbox, make_person, make_campaign, sink, steps, **person) -> tuple[int, int]:
    mailbox = make_mailbox(rep, address="ann@sales.example", port=sink.port, display_name="Ann Seller")
    person_id = make_person(rep, email="pat@prospect.example", **person)
    campaign = make_campaign(rep, steps)
    response = rep.post(f"/campaigns/{campaign['id']}/launch",
                        json={"people": [person_id], "mailbox_id": mailbox, "send_at": "now"})
    assert response.status_code == 200, response.json
    assert response.json["enrolled"], response.json
    return person_id, response.json["enrolled"][0]["enrollment_id"]


def test_a_three_email_thread_arrives_threaded_and_quotes_the_campaign_version_not_the_reps_edit(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, THREE_EMAILS)
    assert run_pass(app) == 1
    assert [(e.status, e.failure_reason) for e in _emails(app)] == [("sent", None)]
    first = smtp_sink.received[0]
    raw_headers = first.data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nSubject: Quick question, Pat\r\n" in b"\r\n" + raw_headers + b"\r\n"
    assert b"From: Ann Seller <ann@sales.example>" in raw_headers
    assert b"To: pat@prospect.example" in raw_headers
    emails = _emails(app)
    assert emails[0].status == "sent" and emails[0].sent_at == clock.now()
    assert f"Message-ID: {emails[0].message_id}".encode() in raw_headers
    assert b"In-Reply-To" not in raw_headers
    assert first.mail_from == "ann@sales.example" and first.rcpt_tos == ["pat@prospect.example"]

    # Day 3 is a task: the rep edits the body before sending; the campaign version is what gets quoted later.
    clock.advance(days=2)
    task = rep.get("/tasks?status=open&due=all").json["tasks"][0]
    assert task["email"]["subject"] == "Re: Quick question, Pat"
    sent = rep.post(f"/tasks/{task['id']}/send", json={"body_html": "<p>REP EDITED THIS</p>"})
    assert sent.status_code in (200, 201), sent.json
    assert run_pass(app) == 1
    clock.advance(days=2)
    assert run_pass(app) == 1

    assert len(smtp_sink.received) == 3
    m1, m2, m3 = (r.message for r in smtp_sink.received)
    e1, e2, e3 = _emails(app)
    assert [m["Subject"] for m in (m1, m2, m3)] == ["Quick question, Pat", "Re: Quick question, Pat",
                                                     "Re: Quick question, Pat"]
    assert m2["In-Reply-To"] == e1.message_id and m2["References"] == e1.message_id
    assert m3["In-Reply-To"] == e2.message_id
    assert m3["References"] == f"{e1.message_id} {e2.message_id}"
    assert m3["Message-ID"] == e3.message_id
    html2 = m2.get_body(("html",)).get_content()
    assert "REP EDITED THIS" in html2 and "first note" in html2
    html3 = m3.get_body(("html",)).get_content()
    assert "Second note for Pat." in html3  # the campaign's rendering of step 2...
    assert "REP EDITED THIS" not in html3  # ...never the rep's edit
    assert "Last note." in html3


def test_every_email_has_a_plain_text_alternative_and_one_click_unsubscribe(
        app, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, THREE_EMAILS[:1])
    run_pass(app)
    message = smtp_sink.received[0].message
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "Hi Pat, first note."
    assert "<p>Hi Pat, first note.</p>" in message.get_body(("html",)).get_content()
    assert message["List-Unsubscribe"].strip().startswith("<http://localhost/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_no_header_can_be_injected_through_merge_data(app, rep, make_mailbox, make_person, make_campaign,
                                                      smtp_sink):
    steps = [dict(THREE_EMAILS[0], subject="Hello {{ first_name }}")]
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, steps,
            first_name="Pat\r\nBcc: victim@evil.example")
    run_pass(app)
    received = smtp_sink.received[0]
    assert received.rcpt_tos == ["pat@prospect.example"]
    headers = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers and b"victim@evil" not in headers.replace(b"\r\n ", b" ").split(b"Subject:")[0]
    assert received.message["Subject"] == "Hello Pat Bcc: victim@evil.example"
    assert received.message["Bcc"] is None


def test_an_email_is_not_sent_before_its_due_time(app, rep, clock, make_mailbox, make_person, make_campaign,
                                                  smtp_sink):
    later = (clock.now() + timedelta(minutes=10)).isoformat()
    mailbox = make_mailbox(rep, port=smtp_sink.port)
    person = make_person(rep)
    campaign = make_campaign(rep, THREE_EMAILS[:1])
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox,
                                                          "send_at": later})
    assert run_pass(app) == 0 and smtp_sink.received == []
    clock.advance(minutes=9, seconds=59)
    assert run_pass(app) == 0
    clock.advance(seconds=1)
    assert run_pass(app) == 1 and len(smtp_sink.received) == 1


def test_people_sent_together_each_get_their_own_threaded_follow_up(app, rep, clock, make_mailbox, make_person,
                                                                    make_campaign, smtp_sink):
    """One pass sends a whole chunk and advances every enrollment at once: each follow-up must
    still answer that person's own first email, and a blocked recipient in the middle of the
    chunk fails alone."""
    steps = [dict(THREE_EMAILS[0], subject="Hello {{ first_name }}"),
             {"day": 2, "type": "email", "subject": "ignored", "body_html": "<p>Following up, {{ first_name }}.</p>",
              "send_option": "same_time_as_previous", "follow_up": True}]
    mailbox = make_mailbox(rep, port=smtp_sink.port)
    names = ["Ann", "Bob", "Cy", "Dee"]
    people = [make_person(rep, email=f"{n.lower()}@{'blocked' if n == 'Cy' else 'prospect'}.example", first_name=n)
              for n in names]
    campaign = make_campaign(rep, steps)
    launched = rep.post(f"/campaigns/{campaign['id']}/launch",
                        json={"people": people, "mailbox_id": mailbox, "send_at": "now"})
    assert len(launched.json["enrolled"]) == 4, launched.json
    app.config["BLOCKED_DOMAINS"] = "blocked.example"

    assert run_pass(app) == 4
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == ["ann@prospect.example", "bob@prospect.example",
                                                                 "dee@prospect.example"]
    failed = rep.get("/emails?status=failed").json["emails"]
    assert [(e["to"], e["failure_reason"]) for e in failed] == [("cy@blocked.example",
                                                                 "recipient domain blocked.example is blocked")]
    first_ids = {r.rcpt_tos[0]: r.message["Message-ID"] for r in smtp_sink.received}

    clock.advance(days=1)
    assert run_pass(app) == 3
    follow_ups = smtp_sink.received[3:]
    assert len(follow_ups) == 3
    for received in follow_ups:
        to = received.rcpt_tos[0]
        name = to.split("@")[0].capitalize()
        assert received.message["Subject"] == f"Re: Hello {name}"
        assert received.message["In-Reply-To"] == first_ids[to]
        assert received.message["References"] == first_ids[to]
        assert f"Following up, {name}." in received.message.get_body(("html",)).get_content()


def test_accented_subjects_and_sender_names_arrive_intact(app, rep, make_mailbox, make_person, make_campaign,
                                                          smtp_sink):
    steps = [dict(THREE_EMAILS[0], subject="Grüße aus Köln, {{ first_name }}: a subject long enough to be folded",
                  body_html="<p>Schöne Grüße, {{ first_name }} — bis bald.</p>")]
    mailbox = make_mailbox(rep, port=smtp_sink.port, display_name="Zoë Müller")
    person = make_person(rep, first_name="Zoë")
    campaign = make_campaign(rep, steps)
    rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person], "mailbox_id": mailbox,
                                                           "send_at": "now"})
    run_pass(app)
    received = smtp_sink.received[0]
    assert received.data.isascii()  # 7-bit on the wire: encoded words and quoted-printable
    message = received.message
    assert message["Subject"] == "Grüße aus Köln, Zoë: a subject long enough to be folded"
    assert message["From"].addresses[0].display_name == "Zoë Müller"
    assert message.get_body(("plain",)).get_content().strip() == "Schöne Grüße, Zoë — bis bald."
    assert "<p>Schöne Grüße, Zoë — bis bald.</p>" in message.get_body(("html",)).get_content()
