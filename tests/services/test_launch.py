"""SPEC §4-§5 launch rules: refusals with reasons, all-or-nothing per person, one active
enrollment per person and campaign (also in the database), merge fields, the Jinja sandbox,
and pause / resume / remove."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from tests.api.helpers import World, iso, local, world  # noqa: F401

from server.models import Email, Enrollment, EnrollmentStep, Event, Person, Task

NO_WEEKEND_SKIP = {"skip_weekends": False}


def _email_campaign(world: World, subject: str = "Hi {{ first_name }}", body: str = "<p>Hi</p>") -> dict:
    return world.campaign([world.email_step(1, "at_time", time="09:30", subject=subject, body_html=body),
                           {"day": 2, "type": "call"}])


# ------------------------------------------------------------------ one active enrollment


def test_a_person_already_active_in_the_campaign_is_refused_on_a_second_launch(world: World):
    campaign = _email_campaign(world)
    person = world.person()
    world.launch_one(campaign["id"], person)
    result = world.launch(campaign["id"], [person])
    assert result["enrolled"] == []
    assert result["refused"] == [{"person_id": person, "reason": "already active in this campaign"}]
    assert len(world.db_rows(Enrollment, person_id=person)) == 1


def test_a_paused_enrollment_still_counts_as_active_for_a_second_launch(world: World):
    campaign = _email_campaign(world)
    person = world.person()
    eid = world.launch_one(campaign["id"], person)
    assert world.api.post(f"/enrollments/{eid}/pause").status_code == 200
    assert world.launch(campaign["id"], [person])["refused"][0]["reason"] == "already active in this campaign"


def test_a_person_can_be_launched_again_after_the_enrollment_ended(world: World):
    campaign = _email_campaign(world)
    person = world.person()
    eid = world.launch_one(campaign["id"], person)
    assert world.api.post(f"/enrollments/{eid}/remove").status_code == 200
    assert len(world.launch(campaign["id"], [person])["enrolled"]) == 1


def test_the_database_refuses_a_second_active_enrollment_inserted_directly(world: World, app, clock):
    campaign = _email_campaign(world)
    person = world.person()
    world.launch_one(campaign["id"], person)
    with app.extensions["stepline_sessions"]() as session:
        session.add(Enrollment(campaign_id=campaign["id"], person_id=person, user_id=world.api.user_id,
                               state="active", timezone="UTC", day1=clock.now().date(), step_times={},
                               created_at=clock.now()))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        # An ended enrollment next to the active one is fine.
        session.add(Enrollment(campaign_id=campaign["id"], person_id=person, user_id=world.api.user_id,
                               state="removed", timezone="UTC", day1=clock.now().date(), step_times={},
                               created_at=clock.now()))
        session.commit()


def test_the_database_refuses_a_second_email_for_the_same_enrollment_step(world: World, app, clock):
    campaign = _email_campaign(world)
    eid = world.launch_one(campaign["id"])
    existing = world.db_rows(Email, enrollment_id=eid)[0]
    with app.extensions["stepline_sessions"]() as session:
        session.add(Email(user_id=existing.user_id, person_id=existing.person_id, enrollment_id=eid,
                          step_id=existing.step_id, to_addr=existing.to_addr, subject="dup", body_html="dup",
                          status="scheduled", due_at=clock.now(), created_at=clock.now()))
        with pytest.raises(IntegrityError):
            session.commit()


# ------------------------------------------------------------------ refusals


def test_launch_refuses_each_bad_person_with_its_reason_and_enrolls_the_rest(world: World, app):
    campaign = _email_campaign(world, body="<p>Your plan: {{ plan }}</p>")
    good = world.person(fields={"plan": "Pro"})
    unsubscribed = world.person(fields={"plan": "Pro"})
    no_plan = world.person()
    bad_email = world.person(fields={"plan": "Pro"})
    with app.extensions["stepline_sessions"]() as session:
        session.get(Person, unsubscribed).unsubscribed = True
        session.get(Person, bad_email).email = "not-an-address"
        session.commit()
    result = world.launch(campaign["id"], [good, unsubscribed, no_plan, bad_email, 999999, good, "x"])
    assert [e["person_id"] for e in result["enrolled"]] == [good]
    reasons = {str(r["person_id"]): r["reason"] for r in result["refused"]}
    assert reasons[str(unsubscribed)] == "unsubscribed"
    assert reasons[str(no_plan)] == "missing merge data: plan"
    assert reasons[str(bad_email)].startswith("invalid email")
    assert reasons["999999"] == "person not found"
    assert reasons["x"] == "not a person id"
    assert [r for r in result["refused"] if r["person_id"] == good] == [
        {"person_id": good, "reason": "listed twice in this launch"}]
    # Exactly the good person was written, with its first step current; nothing for the others.
    assert [e.person_id for e in world.db_rows(Enrollment)] == [good]
    assert {e.person_id for e in world.db_rows(Email)} == {good}
    enrolled_events = [e for e in world.db_rows(Event) if e.type == "enrolled"]
    assert [e.person_id for e in enrolled_events] == [good]


def test_a_refused_person_leaves_no_row_anywhere(world: World):
    campaign = world.campaign([{"day": 1, "type": "call", "title": "Call about {{ plan }}"},
                               world.email_step(2, "at_time", time="09:00", body_html="{{ plan }}")])
    person = world.person()
    result = world.launch(campaign["id"], [person])
    assert result["refused"] == [{"person_id": person, "reason": "missing merge data: plan"}]
    for model in (Enrollment, EnrollmentStep, Task, Email):
        assert world.db_rows(model) == []


def test_launch_of_an_unknown_campaign_is_404(world: World):
    response = world.api.post("/campaigns/424242/launch", json={"people": [world.person()]})
    assert response.status_code == 404
    assert response.json["error"]["field"] == "campaign_id"


def test_launch_from_another_reps_mailbox_is_404(world: World, make_user, make_mailbox):
    other = make_user("other@example.com")
    mailbox = make_mailbox(other)
    campaign = _email_campaign(world)
    body = world.launch(campaign["id"], [world.person()], expect=404, mailbox_id=mailbox)
    assert body["error"]["field"] == "mailbox_id"


# ------------------------------------------------------------------ merge fields


def test_missing_first_name_last_name_and_title_render_blank(world: World):
    campaign = world.campaign([world.email_step(
        1, "task", subject="Hi {{ first_name }}{{ last_name }}",
        body_html="<p>[{{ first_name }}][{{ last_name }}][{{ title }}]</p>")])
    eid = world.launch_one(campaign["id"], world.person(first_name=None, last_name=None))
    task = world.task_for(eid)
    assert task["email"]["subject"] == "Hi"
    assert task["email"]["body_html"] == "<p>[][][]</p>"


def test_missing_company_renders_your_company(world: World):
    campaign = world.campaign([world.email_step(1, "task", subject="For {{ company }}",
                                                body_html="<p>{{ company }}</p>")])
    eid = world.launch_one(campaign["id"], world.person(company=None))
    task = world.task_for(eid)
    assert task["email"]["subject"] == "For your company"
    assert task["email"]["body_html"] == "<p>your company</p>"


def test_a_default_filter_still_works_on_a_missing_field(world: World):
    campaign = world.campaign([world.email_step(1, "task", subject="x",
                                                body_html="<p>{{ plan | default('Starter') }}</p>")])
    eid = world.launch_one(campaign["id"])
    assert world.task_for(eid)["email"]["body_html"] == "<p>Starter</p>"


def test_custom_fields_and_the_sender_are_merge_fields(world: World):
    campaign = world.campaign([world.email_step(1, "task", subject="{{ plan }}",
                                                body_html="<p>{{ plan }} from {{ sender.email }}</p>")])
    eid = world.launch_one(campaign["id"], world.person(fields={"plan": "Pro"}))
    task = world.task_for(eid)
    assert task["email"]["subject"] == "Pro"
    assert task["email"]["body_html"].startswith("<p>Pro from user")


def test_merge_data_is_html_escaped_in_the_body(world: World):
    campaign = world.campaign([world.email_step(1, "task", subject="{{ company }}",
                                                body_html="<p>{{ company }}</p>")])
    eid = world.launch_one(campaign["id"], world.person(company="<script>alert(1)</script>"))
    task = world.task_for(eid)
    assert "<script>" not in task["email"]["body_html"]
    assert "&lt;script&gt;" in task["email"]["body_html"]


@pytest.mark.parametrize("attack", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ first_name.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ sender.__class__ }}",
])
def test_the_jinja_sandbox_refuses_attribute_attacks(world: World, attack: str):
    response = world.api.post("/templates", json={"name": "t", "subject": "s", "body_html": attack})
    if response.status_code == 201:
        campaign = world.campaign([{"day": 1, "type": "email", "template_id": response.json["id"],
                                    "send_option": "task"}])
        result = world.launch(campaign["id"], [world.person()])
        rendered = [t["email"]["body_html"] for t in world.tasks()]
        # Either refused, or rendered to something harmless: never a class list or globals.
        for body in rendered:
            assert "subclasses" not in body and "<class" not in body and "os" != body.strip()
            assert "module" not in body
        assert len(result["refused"]) + len(result["enrolled"]) == 1
    else:
        assert response.status_code == 422
        assert response.json["error"]["field"] in ("body_html", "subject")


# ------------------------------------------------------------------ pause / resume / remove


def test_pause_holds_the_scheduled_email_and_resume_shifts_it_by_the_paused_days(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, world.email_step(2, "at_time", time="09:30")],
                              NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.complete(world.task_for(eid)["id"])
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-03", "09:30")
    world.api.post(f"/enrollments/{eid}/pause")
    assert world.enrollment(eid)["state"] == "paused"
    assert world.emails(eid, status="scheduled")[0]["status"] == "paused"
    world.at(local("2026-03-05", "08:00"))  # paused for three days
    response = world.api.post(f"/enrollments/{eid}/resume")
    assert response.status_code == 200 and response.json["state"] == "active"
    email = world.scheduled_email(eid)
    assert email["status"] == "scheduled"
    assert iso(email["due_at"]) == local("2026-03-06", "09:30")


def test_resume_shifts_the_open_task_and_nothing_catches_up_later(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, {"day": 2, "type": "call"}], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.api.post(f"/enrollments/{eid}/pause")
    assert world.tasks(status="open") == []  # a paused enrollment's task is held back
    world.at(local("2026-03-04", "08:00"))
    world.api.post(f"/enrollments/{eid}/resume")
    task = world.task_for(eid)
    assert task["due_date"] == "2026-03-04"
    world.complete(task["id"])
    assert world.task_for(eid)["due_date"] == "2026-03-05"


def test_a_paused_enrollments_task_cannot_be_completed(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, {"day": 2, "type": "call"}])
    eid = world.launch_one(campaign["id"])
    task_id = world.task_for(eid)["id"]
    world.api.post(f"/enrollments/{eid}/pause")
    response = world.api.post(f"/tasks/{task_id}/complete")
    assert response.status_code == 409
    assert response.json["error"]["field"] == "enrollment_id"


def test_pause_twice_and_resume_of_an_active_enrollment_are_409(world: World):
    campaign = _email_campaign(world)
    eid = world.launch_one(campaign["id"])
    assert world.api.post(f"/enrollments/{eid}/resume").status_code == 409
    world.api.post(f"/enrollments/{eid}/pause")
    assert world.api.post(f"/enrollments/{eid}/pause").status_code == 409


def test_remove_cancels_the_scheduled_email(world: World):
    campaign = _email_campaign(world)
    eid = world.launch_one(campaign["id"])
    response = world.api.post(f"/enrollments/{eid}/remove")
    assert response.status_code == 200 and response.json["state"] == "removed"
    assert world.emails(eid, status="scheduled") == []
    assert world.emails(eid, status="cancelled")[0]["failure_reason"] == "removed from the campaign"
    assert world.api.post(f"/enrollments/{eid}/remove").status_code == 409


def test_remove_closes_the_open_task(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, {"day": 2, "type": "call"}])
    eid = world.launch_one(campaign["id"])
    world.api.post(f"/enrollments/{eid}/remove")
    assert world.tasks(status="open") == []
    assert [t.status for t in world.db_rows(Task, enrollment_id=eid)] == ["skipped"]


def test_the_last_step_done_finishes_the_enrollment(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}])
    eid = world.launch_one(campaign["id"])
    world.complete(world.task_for(eid)["id"])
    enrollment = world.enrollment(eid)
    assert enrollment["state"] == "finished" and enrollment["current_step_id"] is None


def test_two_concurrent_launches_of_the_same_people_enroll_each_person_exactly_once(world: World, app):
    """The partial unique index decides the race; the loser refuses those people, never a 500."""
    import threading

    campaign = _email_campaign(world)
    people = [world.person() for _ in range(40)]
    results: list = []
    barrier = threading.Barrier(2)

    def launch() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(f"/api/v1/campaigns/{campaign['id']}/launch",
                               json={"people": people, "mailbox_id": world.mailbox_id},
                               headers={"Authorization": f"Bearer {world.api.token}"})
        results.append((response.status_code, response.json))

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [status for status, _ in results] == [200, 200], results
    enrolled = [e["person_id"] for _, body in results for e in body["enrolled"]]
    refused = [r for _, body in results for r in body["refused"]]
    assert sorted(enrolled) == sorted(people)
    assert {r["reason"] for r in refused} <= {"already active in this campaign"}
    assert len(refused) == len(people)
    assert sorted(e.person_id for e in world.db_rows(Enrollment)) == sorted(people)
    assert len(world.db_rows(Email)) == len(people)


def test_resume_shifts_a_choose_at_launch_send_time_by_the_paused_days(world: World):
    campaign = world.campaign([world.email_step(1, "choose_at_launch")], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"], send_at="2026-03-04T14:05:00-05:00")
    world.at(local("2026-03-03", "08:00"))
    world.api.post(f"/enrollments/{eid}/pause")
    world.at(local("2026-03-05", "08:00"))
    world.api.post(f"/enrollments/{eid}/resume")
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-06", "14:05")


def test_resume_keeps_the_launch_send_at_time_of_a_first_at_time_step(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:30")], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"], send_at="2026-03-02T15:00:00-05:00")
    world.api.post(f"/enrollments/{eid}/pause")
    world.at(local("2026-03-03", "08:00"))
    world.api.post(f"/enrollments/{eid}/resume")
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-03", "15:00")


def test_resume_on_the_same_day_keeps_the_schedule(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:30")], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.api.post(f"/enrollments/{eid}/pause")
    world.at(local("2026-03-02", "09:00"))
    world.api.post(f"/enrollments/{eid}/resume")
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-02", "09:30")


def test_a_reps_only_mailbox_is_used_when_the_launch_names_none(world: World):
    campaign = _email_campaign(world)
    result = world.api.post(f"/campaigns/{campaign['id']}/launch", json={"people": [world.person()]}).json
    eid = result["enrolled"][0]["enrollment_id"]
    assert world.enrollment(eid)["mailbox_id"] == world.mailbox_id


def test_a_campaign_without_email_steps_launches_without_a_mailbox(world: World, make_user, make_person):
    other = make_user("nomailbox@example.com")
    campaign = world.campaign([{"day": 1, "type": "call"}])
    response = other.post(f"/campaigns/{campaign['id']}/launch", json={"people": [make_person(other)]})
    assert response.status_code == 200 and len(response.json["enrolled"]) == 1, response.json
    assert len(other.get("/tasks").json["tasks"]) == 1


def test_an_email_campaign_launch_without_any_mailbox_is_422(world: World, make_user, make_person):
    other = make_user("nomailbox@example.com")
    campaign = _email_campaign(world)
    response = other.post(f"/campaigns/{campaign['id']}/launch", json={"people": [make_person(other)]})
    assert response.status_code == 422 and response.json["error"]["field"] == "mailbox_id"


def test_an_admin_launching_from_a_reps_mailbox_gives_the_rep_the_enrollment_and_tasks(world: World, admin):
    campaign = world.campaign([world.email_step(1, "task"), {"day": 2, "type": "call"}])
    response = admin.post(f"/campaigns/{campaign['id']}/launch",
                          json={"people": [world.person()], "mailbox_id": world.mailbox_id})
    assert response.status_code == 200, response.json
    eid = response.json["enrolled"][0]["enrollment_id"]
    assert world.enrollment(eid)["user_id"] == world.api.user_id
    assert world.task_for(eid)["type"] == "email"
    assert admin.get("/tasks").json["tasks"] == []  # the queue is personal
