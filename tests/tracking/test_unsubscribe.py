"""Unsubscribe: RFC 8058 one-click POST, the page for humans, and the admin's re-subscribe."""
from __future__ import annotations

from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from server.models import Email, Enrollment, Event, Person

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _state(app, person_id: int) -> tuple[bool, list[str], list[str], list[Event]]:
    with app.extensions["stepline_sessions"]() as session:
        person = session.get(Person, person_id)
        states = list(session.scalars(select(Enrollment.state).where(Enrollment.person_id == person_id)))
        emails = list(session.scalars(select(Email.status).where(Email.person_id == person_id).order_by(Email.id)))
        events = list(session.scalars(select(Event).where(Event.type == "unsubscribed")))
        return person.unsubscribed, states, emails, events


def test_the_rfc8058_one_click_post_unsubscribes_ends_the_enrollment_and_records_one_event(app, send_one, rep):
    sent = send_one()
    assert sent.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A mail provider's POST: no cookies, no CSRF token, form-encoded body.
    response = app.test_client().post(sent.unsubscribe_path, data=ONE_CLICK)
    assert response.status_code == 200
    unsubscribed, states, _, events = _state(app, sent.person_id)
    assert unsubscribed and states == ["unsubscribed"]
    [event] = events
    assert (event.person_id, event.user_id, event.campaign_id) == (sent.person_id, rep.user_id, sent.campaign["id"])
    assert event.step_id == sent.campaign["steps"][0]["id"] and event.data["source"] == "one_click"
    # Again: still 200, nothing recorded twice.
    assert app.test_client().post(sent.unsubscribe_path, data=ONE_CLICK).status_code == 200
    assert len(_state(app, sent.person_id)[3]) == 1


def test_the_next_email_of_an_unsubscribed_person_is_never_sent(app, send_one, clock, smtp_sink):
    from server.services.dispatch import run_pass

    sent = send_one()
    app.test_client().post(sent.unsubscribe_path, data=ONE_CLICK)
    clock.advance(days=3)
    run_pass(app)
    assert len(smtp_sink.received) == 1
    assert all(status in ("sent", "cancelled") for status in _state(app, sent.person_id)[2])


def test_get_shows_a_confirmation_page_and_does_not_unsubscribe_until_the_button_is_pressed(app, send_one):
    sent = send_one()
    client = app.test_client()
    page = client.get(sent.unsubscribe_path)  # a link scanner or a human: nothing happens yet
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "pat@prospect.example" in html and '<form method="post"' in html and "<button" in html
    assert _state(app, sent.person_id)[0] is False
    done = client.post(sent.unsubscribe_path, data={"source": "page"})
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    unsubscribed, states, _, [event] = _state(app, sent.person_id)
    assert unsubscribed and states == ["unsubscribed"] and event.data["source"] == "page"
    assert "You are unsubscribed" in client.get(sent.unsubscribe_path).get_data(as_text=True)


def test_forged_or_edited_unsubscribe_tokens_get_404_and_change_nothing(app, send_one):
    sent = send_one()
    token = sent.unsubscribe_path.rsplit("/", 1)[1]
    with app.extensions["stepline_sessions"]() as session:
        email_id = session.scalars(select(Email.id).where(Email.status == "sent")).one()
    forged = URLSafeSerializer("someone-elses-key", salt="unsubscribe").dumps({"p": sent.person_id, "e": email_id})
    mismatched = URLSafeSerializer(app.config["SECRET_KEY"], salt="unsubscribe").dumps(
        {"p": sent.person_id + 1, "e": email_id})  # signed, but the email is not that person's
    client = app.test_client()
    for path in (f"/u/{token[:-3]}abc", f"/u/{forged}", f"/u/{mismatched}", "/u/nonsense"):
        assert client.post(path, data=ONE_CLICK).status_code == 404, path
        assert client.get(path).status_code == 404, path
    assert _state(app, sent.person_id)[0] is False and _state(app, sent.person_id)[3] == []


def test_unsubscribe_ends_every_active_and_paused_enrollment_of_the_person_across_reps(
        app, send_one, rep, make_user, make_campaign, make_mailbox):
    sent = send_one()
    other = make_user("other@example.com")
    mailbox = make_mailbox(other, port=2599)
    campaign = make_campaign(other, [{"day": 2, "type": "call"}], name="Other")
    launched = other.post(f"/campaigns/{campaign['id']}/launch", json={"people": [sent.person_id], "mailbox_id": mailbox})
    enrollment_id = launched.json["enrolled"][0]["enrollment_id"]
    assert other.post(f"/enrollments/{enrollment_id}/pause").status_code == 200
    app.test_client().post(sent.unsubscribe_path, data=ONE_CLICK)
    _, states, _, events = _state(app, sent.person_id)
    assert states == ["unsubscribed", "unsubscribed"]
    assert sorted(e.user_id for e in events) == sorted([rep.user_id, other.user_id])
    assert [e["type"] for e in other.get("/events").json["events"]][-1] == "unsubscribed"


def test_a_rep_can_unsubscribe_a_person_but_only_an_admin_can_resubscribe(app, rep, admin, make_person):
    person_id = make_person(rep)
    response = rep.post(f"/people/{person_id}/unsubscribe")
    assert response.status_code == 200 and response.json["unsubscribed"] is True
    refused = rep.post(f"/people/{person_id}/resubscribe")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert rep.get(f"/people/{person_id}").json["unsubscribed"] is True
    again = admin.post(f"/people/{person_id}/resubscribe")
    assert again.status_code == 200 and again.json["unsubscribed"] is False
    assert rep.post("/people/999999/unsubscribe").status_code == 404
    assert admin.post("/people/999999/resubscribe").json["error"]["field"] == "person_id"


def test_an_unsubscribed_person_cannot_be_launched_again_until_resubscribed(
        app, rep, admin, make_person, make_campaign, make_mailbox):
    person_id = make_person(rep)
    mailbox = make_mailbox(rep)
    campaign = make_campaign(rep, [{"day": 1, "type": "call"}])
    rep.post(f"/people/{person_id}/unsubscribe")
    refused = rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person_id], "mailbox_id": mailbox})
    assert refused.json["refused"] and "unsubscribed" in refused.json["refused"][0]["reason"]
    admin.post(f"/people/{person_id}/resubscribe")
    again = rep.post(f"/campaigns/{campaign['id']}/launch", json={"people": [person_id], "mailbox_id": mailbox})
    assert again.json["enrolled"]
