"""Command Center "Reschedule": POST /emails/{id}/reschedule moves a scheduled email (the worker
then sends it at the new instant, not before, and a worker that already claimed it wins), and
POST /tasks/{id}/reschedule moves an open task to another day."""
from __future__ import annotations

from datetime import timedelta

from server.models import Email
from server.services.dispatch import Limits, claim, run_pass
from tests.adapters.sink import smtp_sink  # noqa: F401 - fixture
from tests.api.helpers import World, iso, world  # noqa: F401

FIRST = {"day": 1, "type": "email", "subject": "Hello {{ first_name }}", "body_html": "<p>Hi {{ first_name }}</p>",
         "send_option": "choose_at_launch"}
# The clock starts on Monday 2 March 2026 at 08:00 in New York; the email is due at 10:00.
DUE = "2026-03-02T10:00:00-05:00"
LATER = "2026-03-03T11:30:00-05:00"


def _scheduled_email(world: World, send_at: str = DUE) -> dict:
    campaign = world.campaign([FIRST])
    enrollment_id = world.launch_one(campaign["id"], send_at=send_at)
    return world.scheduled_email(enrollment_id)


def _reschedule(api, email_id: int, due_at):
    return api.post(f"/emails/{email_id}/reschedule", json={"due_at": due_at})


# ---------------------------------------------------------------- emails


def test_a_scheduled_email_moves_to_the_new_instant(world: World):
    email = _scheduled_email(world)
    assert iso(email["due_at"]) == iso(DUE)
    response = _reschedule(world.api, email["id"], LATER)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "scheduled" and iso(response.json["due_at"]) == iso(LATER)
    listed = world.scheduled_email(email["enrollment_id"])
    assert listed["id"] == email["id"] and iso(listed["due_at"]) == iso(LATER)
    step = world.step_of(email["enrollment_id"], 0)
    assert iso(step["due_at"]) == iso(LATER) and step["date"] == "2026-03-03"


def test_the_worker_sends_the_moved_email_at_its_new_time_and_not_before(
        app, world: World, clock, make_mailbox, smtp_sink):
    world.mailbox_id = make_mailbox(world.api, address="ann@sales.example", port=smtp_sink.port)
    email = _scheduled_email(world)
    assert _reschedule(world.api, email["id"], LATER).status_code == 200

    world.at(iso(DUE))  # the old time: nothing goes
    assert run_pass(app) == 0
    world.at(iso(LATER) - timedelta(seconds=1))
    assert run_pass(app) == 0
    assert smtp_sink.received == []
    world.at(iso(LATER))
    assert run_pass(app) == 1
    assert [r.message["Subject"] for r in smtp_sink.received] == ["Hello Pat"]
    (sent,) = world.emails(status="sent")
    assert sent["id"] == email["id"] and iso(sent["sent_at"]) == iso(LATER)


def test_an_email_held_by_the_daily_cap_can_be_moved_too(app, world: World, clock, make_mailbox,
                                                         make_person, smtp_sink):
    world.mailbox_id = make_mailbox(world.api, port=smtp_sink.port, daily_cap=1)
    campaign = world.campaign([FIRST])
    world.launch(campaign["id"], [world.person(), world.person()], send_at="now")
    run_pass(app)
    (held,) = [e for e in world.emails(status="scheduled") if e["status"] == "pending"]
    release = iso(held["due_at"])
    later = release + timedelta(hours=2)
    response = _reschedule(world.api, held["id"], later.isoformat())
    assert response.status_code == 200, response.json
    assert response.json["status"] == "scheduled" and iso(response.json["due_at"]) == later
    world.at(release)
    run_pass(app)
    assert len(smtp_sink.received) == 1
    world.at(later)
    run_pass(app)
    assert len(smtp_sink.received) == 2


def test_an_email_the_worker_already_claimed_is_409_and_stays_as_the_worker_left_it(app, world: World, clock):
    email = _scheduled_email(world, send_at="now")
    with app.extensions["stepline_sessions"]() as session:
        ids, _ = claim(session, clock.now(), 10, Limits.from_config(app.config))
    assert ids == [email["id"]]
    response = _reschedule(world.api, email["id"], LATER)
    assert response.status_code == 409, response.json
    error = response.json["error"]
    assert error["code"] == "conflict" and error["field"] == "status"
    assert "already being sent" in error["message"]
    (row,) = world.db_rows(Email)
    assert row.status == "sending" and row.due_at == clock.now()


def test_a_sent_email_cannot_be_rescheduled(world: World):
    email = _scheduled_email(world, send_at="now")
    world.send(email["id"])
    response = _reschedule(world.api, email["id"], LATER)
    assert response.status_code == 409 and "already sent" in response.json["error"]["message"]


def test_another_reps_email_is_404_but_an_admin_may_move_it(world: World, make_user):
    email = _scheduled_email(world)
    other = make_user("other@example.com")
    response = _reschedule(other, email["id"], LATER)
    assert response.status_code == 404 and response.json["error"]["field"] == "email_id"
    assert iso(world.scheduled_email(email["enrollment_id"])["due_at"]) == iso(DUE)
    admin = make_user("boss@example.com", role="admin")
    assert _reschedule(admin, email["id"], LATER).status_code == 200
    assert iso(world.scheduled_email(email["enrollment_id"])["due_at"]) == iso(LATER)


def test_a_due_at_in_the_past_naive_or_missing_is_422_naming_due_at(world: World):
    email = _scheduled_email(world)
    two_minutes_ago = (world.clock.now() - timedelta(minutes=2)).isoformat()
    for body in ({"due_at": two_minutes_ago}, {"due_at": "2026-03-03T11:30:00"}, {"due_at": "tomorrow"},
                 {"due_at": "9999-01-01T00:00:00+00:00"}, {}):
        response = world.api.post(f"/emails/{email['id']}/reschedule", json=body)
        assert response.status_code == 422, (body, response.json)
        assert response.json["error"]["field"] == "due_at", (body, response.json)
    assert iso(world.scheduled_email(email["enrollment_id"])["due_at"]) == iso(DUE)


def test_a_time_picked_a_few_seconds_ago_means_now(world: World):
    email = _scheduled_email(world)
    response = _reschedule(world.api, email["id"], (world.clock.now() - timedelta(seconds=30)).isoformat())
    assert response.status_code == 200, response.json
    assert iso(response.json["due_at"]) == world.clock.now()


# ---------------------------------------------------------------- tasks


def _call_task(world: World) -> dict:
    campaign = world.campaign([{"day": 1, "type": "call"}, {"day": 2, "type": "call"}], {"skip_weekends": False})
    return world.task_for(world.launch_one(campaign["id"]))


def _move(api, task_id: int, due_date):
    return api.post(f"/tasks/{task_id}/reschedule", json={"due_date": due_date})


def test_an_open_task_moves_to_another_day(world: World):
    task = _call_task(world)
    assert task["due_date"] == "2026-03-02" and [t["id"] for t in world.tasks(due="today")] == [task["id"]]
    response = _move(world.api, task["id"], "2026-03-05")
    assert response.status_code == 200, response.json
    assert response.json["due_date"] == "2026-03-05" and response.json["status"] == "open"
    assert world.tasks(due="today") == []
    assert [t["due_date"] for t in world.tasks(due="upcoming")] == ["2026-03-05"]
    assert world.step_of(task["enrollment_id"], 0)["date"] == "2026-03-05"


def test_a_task_may_move_to_today_but_not_into_the_reps_past(world: World):
    task = _call_task(world)
    assert _move(world.api, task["id"], "2026-03-04").status_code == 200
    assert _move(world.api, task["id"], "2026-03-02").status_code == 200
    for value in ("2026-03-01", "03/04/2026", "2026-02-30", None, "1999-12-31"):
        response = _move(world.api, task["id"], value)
        assert response.status_code == 422, (value, response.json)
        assert response.json["error"]["field"] == "due_date", (value, response.json)
    assert world.tasks(due="today")[0]["id"] == task["id"]


def test_a_task_that_is_not_open_is_409(world: World):
    task = _call_task(world)
    world.complete(task["id"])
    response = _move(world.api, task["id"], "2026-03-05")
    assert response.status_code == 409, response.json
    assert response.json["error"]["field"] == "status" and "completed" in response.json["error"]["message"]


def test_another_reps_task_is_404(world: World, make_user):
    task = _call_task(world)
    response = _move(make_user("other@example.com"), task["id"], "2026-03-05")
    assert response.status_code == 404 and response.json["error"]["field"] == "task_id"
    assert world.task_for(task["enrollment_id"])["due_date"] == "2026-03-02"
