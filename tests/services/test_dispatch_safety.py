"""The dispatcher's safety rules: pre-send checks, provider faults, caps, recovery, DST, no duplicates."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from server.clock import FrozenClock
from server.models import Email, Enrollment, Event, Person
from server.services.dispatch import UNKNOWN_REASON, run_pass
from tests.adapters.sink import smtp_sink  # noqa: F401 - fixture

FIRST = {"day": 1, "type": "email", "subject": "Hello {{ first_name }}", "body_html": "<p>Hi {{ first_name }}</p>",
         "send_option": "choose_at_launch"}


def _session(app):
    return app.extensions["stepline_sessions"]()


def _emails(app) -> list[Email]:
    with _session(app) as session:
        return list(session.scalars(select(Email).order_by(Email.id)))


def _launch(rep, make_mailbox, make_person, make_campaign, sink, *, people=1, steps=None, mailbox=None,
            settings=None, send_at="now", **person_fields) -> list[int]:
    mailbox = mailbox or make_mailbox(rep, port=sink.port)
    ids = [make_person(rep, **person_fields) for _ in range(people)]
    campaign = make_campaign(rep, steps or [FIRST], settings=settings)
    response = rep.post(f"/campaigns/{campaign['id']}/launch",
                        json={"people": ids, "mailbox_id": mailbox, "send_at": send_at})
    assert response.status_code == 200 and len(response.json["enrolled"]) == people, response.json
    return [e["enrollment_id"] for e in response.json["enrolled"]]


# ---------------------------------------------------------------- pre-send checks


def test_an_unsubscribed_person_is_not_emailed_and_the_email_shows_failed_with_the_reason(
        app, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    with _session(app) as session:
        session.execute(update(Person).values(unsubscribed=True))
        session.commit()
    run_pass(app)
    assert smtp_sink.received == []
    failed = rep.get("/emails?status=failed").json["emails"]
    assert [(e["status"], e["failure_reason"]) for e in failed] == [("failed", "person unsubscribed")]
    with _session(app) as session:
        event = session.scalars(select(Event).where(Event.type == "failed")).one()
        assert event.data["reason"] == "person unsubscribed" and event.email_id == failed[0]["id"]


def test_an_email_of_an_enrollment_that_has_ended_fails_with_campaign_has_ended(
        app, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    with _session(app) as session:
        session.execute(update(Enrollment).values(state="replied"))
        session.commit()
    run_pass(app)
    assert smtp_sink.received == []
    assert [(e.status, e.failure_reason) for e in _emails(app)] == [("failed", "campaign has ended")]


def test_missing_merge_data_at_send_time_fails_the_email_naming_the_field(
        app, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    steps = [dict(FIRST, body_html="<p>How is {{ industry }} going?</p>")]
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, steps=steps, fields={"industry": "retail"})
    with _session(app) as session:
        session.execute(update(Person).values(fields={}))
        session.commit()
    run_pass(app)
    assert smtp_sink.received == []
    assert [(e.status, e.failure_reason) for e in _emails(app)] == [("failed", "missing merge data: industry")]


def test_a_blocked_recipient_domain_is_never_emailed(app, rep, make_mailbox, make_person, make_campaign,
                                                     smtp_sink):
    app.config["BLOCKED_DOMAINS"] = "competitor.example, prospect.example"
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    run_pass(app)
    assert smtp_sink.received == []
    assert [(e.status, e.failure_reason) for e in _emails(app)] == [
        ("failed", "recipient domain prospect.example is blocked")]


# ---------------------------------------------------------------- provider faults (real SMTP answers)


def test_a_temporary_smtp_refusal_is_retried_with_growing_backoff_then_failed(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    app.config["DISPATCH_MAX_ATTEMPTS"] = 3
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    smtp_sink.fail_next("451 4.3.0 try again later", "451 4.3.0 try again later", "451 4.3.0 try again later")
    start = clock.now()
    run_pass(app)
    (email,) = _emails(app)
    assert (email.status, email.attempts, email.due_at) == ("scheduled", 1, start + timedelta(seconds=30))
    assert "451" in email.failure_reason
    clock.advance(seconds=30)
    run_pass(app)
    (email,) = _emails(app)
    assert (email.status, email.attempts, email.due_at) == ("scheduled", 2, clock.now() + timedelta(seconds=60))
    clock.advance(seconds=60)
    run_pass(app)
    (email,) = _emails(app)
    assert email.status == "failed" and email.failure_reason.startswith("gave up after 3 attempts")
    assert smtp_sink.received == []


def test_a_temporary_refusal_then_success_sends_exactly_once(app, rep, clock, make_mailbox, make_person,
                                                            make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    smtp_sink.fail_next("421 4.7.0 too busy")
    run_pass(app)
    clock.advance(seconds=30)
    run_pass(app)
    assert len(smtp_sink.received) == 1 and _emails(app)[0].status == "sent"


def test_gmails_daily_quota_answer_holds_the_email_until_the_window_passes(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    smtp_sink.fail_next("550 5.4.5 Daily user sending quota exceeded.")
    run_pass(app)
    (email,) = _emails(app)
    assert email.status == "pending" and email.due_at == clock.now() + timedelta(hours=24)
    assert email.attempts == 0
    clock.advance(hours=24)
    run_pass(app)
    assert _emails(app)[0].status == "sent" and len(smtp_sink.received) == 1


def test_a_connection_lost_after_the_data_was_sent_marks_the_email_unknown_not_resent(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    smtp_sink.fail_next("drop")
    run_pass(app)
    clock.advance(hours=1)
    run_pass(app)
    (email,) = _emails(app)
    assert (email.status, email.failure_reason) == ("unknown", UNKNOWN_REASON)
    assert len(smtp_sink.received) == 1  # the server did get it once; nobody sent it again
    assert [e["id"] for e in rep.get("/emails?status=failed").json["emails"]] == [email.id]


def test_a_permanent_refusal_fails_the_email_with_the_servers_answer(
        app, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    smtp_sink.fail_next("554 5.7.1 message rejected as spam")
    run_pass(app)
    (email,) = _emails(app)
    assert email.status == "failed" and "554 5.7.1 message rejected as spam" in email.failure_reason


def test_an_unreachable_smtp_server_is_retried_not_failed(app, rep, clock, make_mailbox, make_person,
                                                          make_campaign, smtp_sink):
    from tests.adapters.sink import free_port

    mailbox = make_mailbox(rep, port=free_port())
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, mailbox=mailbox)
    run_pass(app)
    (email,) = _emails(app)
    assert email.status == "scheduled" and email.attempts == 1 and "cannot connect" in email.failure_reason


# ---------------------------------------------------------------- caps


def test_the_daily_cap_holds_extra_emails_as_pending_until_the_rolling_window_frees_a_slot(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    mailbox = make_mailbox(rep, port=smtp_sink.port, daily_cap=2)
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, people=3, mailbox=mailbox)
    first_send = clock.now()
    run_pass(app)
    assert len(smtp_sink.received) == 2
    held = [e for e in _emails(app) if e.status == "pending"]
    assert len(held) == 1 and held[0].due_at == first_send + timedelta(hours=24)
    clock.advance(hours=23, minutes=59)
    run_pass(app)
    assert len(smtp_sink.received) == 2
    clock.advance(minutes=1)
    run_pass(app)
    assert len(smtp_sink.received) == 3 and all(e.status == "sent" for e in _emails(app))


def test_the_minute_cap_spreads_a_burst_over_the_following_minutes(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    mailbox = make_mailbox(rep, port=smtp_sink.port, minute_cap=2)
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, people=5, mailbox=mailbox)
    run_pass(app)
    assert len(smtp_sink.received) == 2
    clock.advance(seconds=60)
    run_pass(app)
    assert len(smtp_sink.received) == 4
    clock.advance(seconds=60)
    run_pass(app)
    assert len(smtp_sink.received) == 5
    assert len({r.message["Message-ID"] for r in smtp_sink.received}) == 5


def test_the_default_daily_cap_comes_from_configuration(app, rep, clock, make_mailbox, make_person,
                                                         make_campaign, smtp_sink):
    app.config["MAILBOX_DAILY_CAP"] = 1
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, people=2)
    run_pass(app)
    assert sorted(e.status for e in _emails(app)) == ["pending", "sent"]


def test_the_daily_cap_holds_across_workers_racing_for_the_same_mailbox(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    mailbox = make_mailbox(rep, port=smtp_sink.port, daily_cap=5)
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, people=20, mailbox=mailbox)
    threads = [threading.Thread(target=run_pass, args=(app,), kwargs={"batch": 3, "threads": 1}) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(smtp_sink.received) == 5
    statuses = sorted(e.status for e in _emails(app))
    assert statuses.count("sent") == 5 and statuses.count("pending") == 15


# ---------------------------------------------------------------- recovery and concurrency


def test_a_worker_that_died_while_sending_leaves_the_email_unknown_after_the_lease_never_resent(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    with _session(app) as session:  # what a worker SIGKILLed inside provider.send leaves behind
        session.execute(update(Email).values(status="sending", claimed_by="dead:1:x!", claimed_at=clock.now(),
                                             attempts=1))
        session.commit()
    clock.advance(seconds=119)
    run_pass(app)
    assert _emails(app)[0].status == "sending"
    clock.advance(seconds=2)
    run_pass(app)
    (email,) = _emails(app)
    assert (email.status, email.failure_reason) == ("unknown", UNKNOWN_REASON)
    assert smtp_sink.received == []
    # A human checked and retries: it goes, once, with the same Message-ID.
    assert rep.post(f"/emails/{email.id}/retry").status_code == 200
    run_pass(app)
    assert len(smtp_sink.received) == 1
    assert smtp_sink.received[0].message["Message-ID"] == email.message_id


def test_a_claim_that_was_never_handed_to_the_provider_goes_back_to_the_queue_after_the_lease(
        app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink)
    with _session(app) as session:  # a worker killed after claiming its batch, before this email's turn
        session.execute(update(Email).values(status="sending", claimed_by="dead:1:x", claimed_at=clock.now(),
                                             attempts=1))
        session.commit()
    clock.advance(seconds=121)
    run_pass(app)
    (email,) = _emails(app)
    assert (email.status, email.attempts) == ("sent", 1)
    assert len(smtp_sink.received) == 1


def test_two_workers_racing_over_the_same_due_emails_send_each_exactly_once(
        app, rep, make_mailbox, make_person, make_campaign, smtp_sink):
    _launch(rep, make_mailbox, make_person, make_campaign, smtp_sink, people=30)
    threads = [threading.Thread(target=run_pass, args=(app,), kwargs={"batch": 5}) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r.message["Message-ID"] for r in smtp_sink.received]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert all(e.status == "sent" for e in _emails(app))


# ---------------------------------------------------------------- DST


def _dst_case(app, rep, clock: FrozenClock, make_mailbox, make_person, make_campaign, sink, day: str,
              expected_utc: datetime) -> None:
    clock.set(datetime.fromisoformat(day).replace(tzinfo=timezone.utc) - timedelta(days=1))
    mailbox = make_mailbox(rep, port=sink.port)
    person = make_person(rep)
    campaign = make_campaign(rep, [{"day": 1, "type": "email", "subject": "Hi", "body_html": "<p>Hi</p>",
                                    "send_option": "at_time", "time": "09:30"}],
                             settings={"skip_weekends": False})
    response = rep.post(f"/campaigns/{campaign['id']}/launch",
                        json={"people": [person], "mailbox_id": mailbox, "start_date": day})
    assert response.status_code == 200 and response.json["enrolled"], response.json
    assert _emails(app)[0].due_at == expected_utc
    clock.set(expected_utc - timedelta(seconds=1))
    run_pass(app)
    assert sink.received == []
    clock.set(expected_utc)
    run_pass(app)
    assert len(sink.received) == 1 and _emails(app)[0].sent_at == expected_utc


def test_0930_new_york_on_the_spring_forward_day_goes_out_at_1330_utc(app, rep, clock, make_mailbox, make_person,
                                                                       make_campaign, smtp_sink):
    _dst_case(app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink, "2026-03-08",
              datetime(2026, 3, 8, 13, 30, tzinfo=timezone.utc))


def test_0930_new_york_on_the_fall_back_day_goes_out_at_1430_utc(app, rep, clock, make_mailbox, make_person,
                                                                  make_campaign, smtp_sink):
    _dst_case(app, rep, clock, make_mailbox, make_person, make_campaign, smtp_sink, "2026-11-01",
              datetime(2026, 11, 1, 14, 30, tzinfo=timezone.utc))
