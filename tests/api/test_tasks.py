"""SPEC §5 tasks and emails over the API: created when current, due on the step's date,
email tasks carry the rendered email, filters relative to the rep's zone, complete / skip
advance at once, POST /tasks/{id}/send schedules the edited email, GET /emails?status=."""
from __future__ import annotations

from tests.api.helpers import World, iso, local, utc, world  # noqa: F401

from server.models import Email, Task

NO_WEEKEND_SKIP = {"skip_weekends": False}


def _three_calls(world: World) -> dict:
    return world.campaign([{"day": 1, "type": "call", "notes": "talk track", "priority": "high"},
                           {"day": 2, "type": "call"}, {"day": 5, "type": "custom", "title": "Send a gift"}],
                          NO_WEEKEND_SKIP)


def test_a_task_is_created_when_its_step_becomes_current_and_due_on_its_date(world: World):
    campaign = _three_calls(world)
    eid = world.launch_one(campaign["id"], world.person(first_name="Pat", last_name="Lee"))
    task = world.task_for(eid)
    assert task["type"] == "call" and task["status"] == "open" and task["due_date"] == "2026-03-02"
    assert task["title"] == "Call Pat Lee" and task["priority"] == "high" and task["notes"] == "talk track"
    assert task["campaign"] == {"id": campaign["id"], "name": campaign["name"]}
    assert task["person"]["first_name"] == "Pat" and task["email"] is None
    assert len(world.db_rows(Task)) == 1


def test_completing_a_task_advances_the_enrollment_at_once(world: World):
    campaign = _three_calls(world)
    eid = world.launch_one(campaign["id"])
    first = world.task_for(eid)
    result = world.complete(first["id"])
    assert result["status"] == "completed"
    second = world.task_for(eid)
    assert second["id"] != first["id"] and second["due_date"] == "2026-03-03"
    steps = world.enrollment(eid)["steps"]
    assert [s["status"] for s in steps] == ["done", "open", "pending"]


def test_skipping_a_task_advances_the_enrollment_at_once(world: World):
    campaign = _three_calls(world)
    eid = world.launch_one(campaign["id"])
    world.skip(world.task_for(eid)["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-03"
    assert world.enrollment(eid)["steps"][0]["status"] == "skipped"


def test_a_task_cannot_be_completed_or_skipped_twice(world: World):
    campaign = _three_calls(world)
    eid = world.launch_one(campaign["id"])
    task_id = world.task_for(eid)["id"]
    world.complete(task_id)
    for action in ("complete", "skip", "send"):
        response = world.api.post(f"/tasks/{task_id}/{action}", json={})
        assert response.status_code in (409, 422), response.json
        assert response.json["error"]["field"] in ("status", "task_id")
    assert len([t for t in world.tasks(status="open") if t["enrollment_id"] == eid]) == 1


def test_due_filters_are_relative_to_the_reps_own_time_zone(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}], NO_WEEKEND_SKIP)
    overdue = world.launch_one(campaign["id"], start_date="2026-03-01")
    today = world.launch_one(campaign["id"], start_date="2026-03-02")
    upcoming = world.launch_one(campaign["id"], start_date="2026-03-03")
    ids = {name: world.task_for(eid)["id"] for name, eid in
           (("overdue", overdue), ("today", today), ("upcoming", upcoming))}
    # 23:30 UTC is still Monday 2 March in New York.
    world.at(utc(2026, 3, 2, 23, 30))
    for due, expected in ids.items():
        assert [t["id"] for t in world.tasks(due=due)] == [expected], due
    assert len(world.tasks(due="all")) == 3
    overdue_task = [t for t in world.tasks() if t["id"] == ids["overdue"]][0]
    assert overdue_task["overdue"] is True


def test_status_filter_lists_completed_and_skipped_tasks(world: World):
    campaign = _three_calls(world)
    eid = world.launch_one(campaign["id"])
    first = world.task_for(eid)["id"]
    world.complete(first)
    second = world.task_for(eid)["id"]
    world.skip(second)
    assert [t["id"] for t in world.tasks(status="completed")] == [first]
    assert [t["id"] for t in world.tasks(status="skipped")] == [second]
    assert len(world.tasks(status="all")) == 3
    assert len(world.tasks()) == 1  # open is the default


def test_an_email_task_carries_recipient_subject_and_rendered_body(world: World):
    campaign = world.campaign([world.email_step(1, "task", subject="Idea for {{ company }}",
                                                body_html="<p>Hi {{ first_name }}, {{ sender.name }} here</p>")])
    person = world.person(first_name="Ada", company="Engines", email="ada@engines.example")
    eid = world.launch_one(campaign["id"], person)
    task = world.task_for(eid)
    assert task["email"]["to"] == ["ada@engines.example"]
    assert task["email"]["subject"] == "Idea for Engines"
    assert task["email"]["body_html"].startswith("<p>Hi Ada, ")
    assert task["email"]["thread"] is None
    assert world.api.get(f"/tasks/{task['id']}").json["email"]["subject"] == "Idea for Engines"


def test_sending_an_email_task_records_the_edited_email_as_scheduled(world: World):
    campaign = world.campaign([world.email_step(1, "task"), {"day": 2, "type": "call"}], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    task = world.task_for(eid)
    response = world.api.post(f"/tasks/{task['id']}/send", json={
        "subject": "Edited subject", "body_html": "<p>Edited <script>alert(1)</script>body</p>"})
    assert response.status_code == 200, response.json
    assert response.json["task"]["status"] == "completed"
    scheduled = world.scheduled_email(eid)
    assert scheduled["subject"] == "Edited subject" and scheduled["status"] == "scheduled"
    assert iso(scheduled["due_at"]) == world.clock.now()
    row = world.db_rows(Email, id=scheduled["id"])[0]
    assert "Edited" in row.body_html and "<script>" not in row.body_html
    # The enrollment moves on when the email is actually sent, like any email step.
    assert world.tasks(status="open") == []
    world.send(scheduled["id"])
    assert world.task_for(eid)["type"] == "call"


def test_sending_an_email_task_later_schedules_it_at_that_instant(world: World):
    campaign = world.campaign([world.email_step(1, "task")])
    eid = world.launch_one(campaign["id"])
    response = world.api.post(f"/tasks/{world.task_for(eid)['id']}/send",
                              json={"send_at": "2026-03-03T10:00:00-05:00"})
    assert response.status_code == 200, response.json
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-03", "10:00")
    assert world.enrollment(eid)["steps"][0]["status"] == "scheduled"


def test_only_email_tasks_can_be_sent(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}])
    eid = world.launch_one(campaign["id"])
    response = world.api.post(f"/tasks/{world.task_for(eid)['id']}/send", json={})
    assert response.status_code == 422 and response.json["error"]["field"] == "task_id"


def test_get_emails_filters_scheduled_sent_and_cancelled(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:00"),
                               world.email_step(2, "at_time", time="09:00")], NO_WEEKEND_SKIP)
    sent_eid = world.launch_one(campaign["id"])
    removed_eid = world.launch_one(campaign["id"])
    first = world.send_when_due(sent_eid)
    world.api.post(f"/enrollments/{removed_eid}/remove")
    sent = world.emails(status="sent")
    assert [e["id"] for e in sent] == [first["id"]] and sent[0]["sent_at"] is not None
    assert sent[0]["message_id"]
    scheduled = world.emails(status="scheduled")
    assert [e["enrollment_id"] for e in scheduled] == [sent_eid]
    cancelled = world.emails(status="cancelled")
    assert [e["enrollment_id"] for e in cancelled] == [removed_eid]
    assert cancelled[0]["failure_reason"]
    assert len(world.emails()) == 3


def test_get_emails_with_an_unknown_status_is_422(world: World):
    response = world.api.get("/emails", query_string={"status": "lost"})
    assert response.status_code == 422 and response.json["error"]["field"] == "status"


def test_failed_email_shows_its_reason_and_can_be_retried(world: World, app):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:00")])
    eid = world.launch_one(campaign["id"])
    email_id = world.scheduled_email(eid)["id"]
    with app.extensions["stepline_sessions"]() as session:
        row = session.get(Email, email_id)
        row.status, row.failure_reason = "failed", "mailbox rejected the message"
        session.commit()
    failed = world.emails(status="failed")
    assert failed[0]["failure_reason"] == "mailbox rejected the message"
    response = world.api.post(f"/emails/{email_id}/retry")
    assert response.status_code == 200 and response.json["status"] == "scheduled"
    assert world.api.post(f"/emails/{email_id}/retry").status_code == 409


def test_an_edited_subject_is_sent_as_typed_even_with_braces_on_one_line(world: World):
    campaign = world.campaign([world.email_step(1, "task")])
    for typed, sent in (("Re: {{ plan }} pricing", "Re: {{ plan }} pricing"), ("{% if %} odd", "{% if %} odd"),
                        ("Hi\r\nBcc: x@evil.example", "Hi Bcc: x@evil.example")):
        eid = world.launch_one(campaign["id"])
        response = world.api.post(f"/tasks/{world.task_for(eid)['id']}/send", json={"subject": typed})
        assert response.status_code == 200, response.json
        assert world.scheduled_email(eid)["subject"] == sent


def test_a_whitespace_only_subject_is_refused(world: World):
    campaign = world.campaign([world.email_step(1, "task")])
    eid = world.launch_one(campaign["id"])
    response = world.api.post(f"/tasks/{world.task_for(eid)['id']}/send", json={"subject": "   "})
    assert response.status_code == 422 and response.json["error"]["field"] == "subject"
