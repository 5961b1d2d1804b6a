"""SPEC §3 through the engine: every send option with its edge rules, follow-ups, and
PATCH never changing what was already sent.

Clock: Monday 2026-03-02 08:00 New York. The rep lives in New York.
"""
from __future__ import annotations

from tests.api.helpers import NY, World, iso, local, utc, world  # noqa: F401

from server.models import Email, Enrollment

NO_WEEKEND_SKIP = {"skip_weekends": False}


# ------------------------------------------------------------------ choose_at_launch


def test_choose_at_launch_without_send_at_refuses_the_whole_launch_with_422_and_writes_nothing(world: World):
    campaign = world.campaign([world.email_step(1, "choose_at_launch")])
    people = [world.person(), world.person()]
    body = world.launch(campaign["id"], people, expect=422)
    assert body["error"]["field"] == "send_at"
    assert "choose_at_launch" in body["error"]["message"]
    assert world.db_rows(Enrollment) == [] and world.db_rows(Email) == []


def test_choose_at_launch_with_send_at_now_is_due_at_once(world: World):
    campaign = world.campaign([world.email_step(1, "choose_at_launch")])
    eid = world.launch_one(campaign["id"], send_at="now")
    assert iso(world.scheduled_email(eid)["due_at"]) == world.clock.now()


def test_choose_at_launch_with_an_instant_is_due_at_that_exact_instant(world: World):
    campaign = world.campaign([world.email_step(1, "choose_at_launch")])
    eid = world.launch_one(campaign["id"], send_at="2026-03-04T14:05:00-05:00")
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-04", "14:05")
    assert world.step_of(eid, 0)["date"] == "2026-03-04"


def test_choose_at_launch_with_a_past_instant_is_due_at_once_not_another_day(world: World):
    campaign = world.campaign([world.email_step(1, "choose_at_launch")])
    eid = world.launch_one(campaign["id"], send_at="2026-03-01T10:00:00-05:00")
    assert iso(world.scheduled_email(eid)["due_at"]) == world.clock.now()


def test_send_at_must_be_now_or_an_instant_with_an_offset(world: World):
    campaign = world.campaign([world.email_step(1, "choose_at_launch")])
    for bad in ("tomorrow", "2026-03-04T14:05:00"):
        body = world.launch(campaign["id"], [world.person()], expect=422, send_at=bad)
        assert body["error"]["field"] == "send_at"
    assert world.db_rows(Enrollment) == []


# ------------------------------------------------------------------ at_time


def test_at_time_sends_at_that_local_time_on_its_date(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, world.email_step(3, "at_time", time="10:15")],
                              NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.complete(world.task_for(eid)["id"])
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-04", "10:15")


def test_launch_step_times_override_the_time_of_an_at_time_step(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:30"),
                               world.email_step(2, "at_time", time="10:00")], NO_WEEKEND_SKIP)
    first_id, second_id = (s["id"] for s in campaign["steps"])
    eid = world.launch_one(campaign["id"], step_times={str(first_id): "11:45", str(second_id): "16:20"})
    assert iso(world.send_when_due(eid)["due_at"]) == local("2026-03-02", "11:45")
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-03", "16:20")


def test_send_at_overrides_the_time_of_a_first_at_time_step(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:30")])
    eid = world.launch_one(campaign["id"], send_at="2026-03-02T15:00:00-05:00")
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-02", "15:00")


def test_step_times_for_a_step_that_is_not_at_time_is_refused_naming_it(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:30"), {"day": 2, "type": "call"}])
    call_id = campaign["steps"][1]["id"]
    body = world.launch(campaign["id"], [world.person()], expect=422, step_times={str(call_id): "10:00"})
    assert body["error"]["field"] == f"step_times.{call_id}"
    first = campaign["steps"][0]["id"]
    body = world.launch(campaign["id"], [world.person()], expect=422, step_times={str(first): "25:99"})
    assert body["error"]["field"] == f"step_times.{first}"


def test_an_at_time_instant_already_past_at_launch_is_due_at_once_not_the_next_day(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="07:00")])
    eid = world.launch_one(campaign["id"])  # launched at 08:00
    email = world.scheduled_email(eid)
    assert iso(email["due_at"]) == world.clock.now()
    assert world.step_of(eid, 0)["date"] == "2026-03-02"


def test_an_at_time_email_after_a_late_task_is_due_at_once_on_the_day_the_task_was_done(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, world.email_step(1, "at_time", time="09:00")],
                              NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.at(local("2026-03-02", "17:00"))
    world.complete(world.task_for(eid)["id"])
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-02", "17:00")


# ------------------------------------------------------------------ same_time_as_previous


def test_same_time_as_previous_uses_the_previous_days_actual_send_time(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:30"),
                               world.email_step(3, "same_time_as_previous")], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.send(world.scheduled_email(eid)["id"], at=local("2026-03-02", "10:07", ) .replace(second=41))
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-04", "10:07")


def test_same_time_as_previous_ignores_an_email_earlier_on_the_same_day(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:00"),
                               world.email_step(3, "at_time", time="07:00"),
                               world.email_step(3, "same_time_as_previous")], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.send_when_due(eid)  # day 1 at 09:00
    world.send_when_due(eid)  # day 3 at 07:00
    # The time comes from day 1 (09:00), not from the 07:00 email of the same day 3.
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-04", "09:00")


def test_same_time_as_previous_on_day_1_without_an_earlier_email_is_sent_at_once(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, world.email_step(1, "same_time_as_previous")])
    eid = world.launch_one(campaign["id"])
    world.at(local("2026-03-02", "11:12"))
    world.complete(world.task_for(eid)["id"])
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-02", "11:12")


def test_same_time_as_previous_is_due_at_once_when_its_time_has_passed(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:00"), {"day": 2, "type": "call"},
                               world.email_step(2, "same_time_as_previous")], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    world.send_when_due(eid)
    world.at(local("2026-03-03", "15:00"))
    world.complete(world.task_for(eid)["id"])
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-03", "15:00")


# ------------------------------------------------------------------ send window


def test_send_window_holds_an_early_email_until_the_window_opens(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="08:30")],
                              {"send_window": {"start": "10:00", "end": "16:00"}})
    eid = world.launch_one(campaign["id"])
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-02", "10:00")


def test_send_window_moves_an_email_due_after_closing_to_the_next_business_days_opening(world: World):
    world.at(local("2026-03-06", "08:00"))  # Friday
    campaign = world.campaign([world.email_step(1, "at_time", time="17:30")],
                              {"send_window": {"start": "10:00", "end": "16:00"}})
    eid = world.launch_one(campaign["id"])
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-09", "10:00")


def test_an_email_inside_the_send_window_keeps_its_time(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="11:00")],
                              {"send_window": {"start": "10:00", "end": "16:00"}})
    eid = world.launch_one(campaign["id"])
    assert iso(world.scheduled_email(eid)["due_at"]) == local("2026-03-02", "11:00")


# ------------------------------------------------------------------ task option


def test_an_email_step_with_send_option_task_creates_an_email_task_and_no_automatic_email(world: World):
    campaign = world.campaign([world.email_step(1, "task", subject="Hi {{ first_name }}",
                                                body_html="<p>Dear {{ first_name }} at {{ company }}</p>")])
    person = world.person(first_name="Sam", company="Globex")
    eid = world.launch_one(campaign["id"], person)
    task = world.task_for(eid)
    assert task["type"] == "email" and task["due_date"] == "2026-03-02"
    assert task["email"]["to"] == [world.api.get(f"/people/{person}").json["email"]]
    assert task["email"]["subject"] == "Hi Sam"
    assert task["email"]["body_html"] == "<p>Dear Sam at Globex</p>"
    assert world.db_rows(Email, enrollment_id=eid) == []


# ------------------------------------------------------------------ follow-ups


def _follow_up_campaign(world: World, first_subject: str = "Hello {{ first_name }}") -> dict:
    return world.campaign([
        world.email_step(1, "task", subject=first_subject, body_html="<p>Campaign copy for {{ first_name }}</p>"),
        world.email_step(2, "at_time", time="09:00", follow_up=True, subject="ignored for a follow-up",
                         body_html="<p>Bumping this</p>"),
    ], NO_WEEKEND_SKIP)


def _email_row(world: World, email_id: int) -> Email:
    return world.db_rows(Email, id=email_id)[0]


def test_a_follow_up_replies_in_the_thread_with_re_subject_and_reply_headers(world: World):
    campaign = _follow_up_campaign(world)
    eid = world.launch_one(campaign["id"], world.person(first_name="Pat"))
    sent = world.api.post(f"/tasks/{world.task_for(eid)['id']}/send", json={})
    assert sent.status_code == 200, sent.json
    first = _email_row(world, sent.json["email_id"])
    world.send(first.id)
    follow = _email_row(world, world.scheduled_email(eid)["id"])
    assert follow.subject == "Re: Hello Pat"
    assert follow.in_reply_to == first.message_id
    assert follow.references == first.message_id
    assert follow.follow_up is True


def test_a_follow_up_never_doubles_the_re_prefix(world: World):
    campaign = _follow_up_campaign(world, first_subject="Re: our chat, {{ first_name }}")
    eid = world.launch_one(campaign["id"], world.person(first_name="Pat"))
    sent = world.api.post(f"/tasks/{world.task_for(eid)['id']}/send", json={})
    world.send(sent.json["email_id"])
    assert world.scheduled_email(eid)["subject"] == "Re: our chat, Pat"


def test_a_follow_up_quotes_the_campaign_template_not_the_reps_edit(world: World):
    campaign = _follow_up_campaign(world)
    eid = world.launch_one(campaign["id"], world.person(first_name="Pat"))
    sent = world.api.post(f"/tasks/{world.task_for(eid)['id']}/send",
                          json={"subject": "My own subject", "body_html": "<p>REP EDITED THIS</p>"})
    assert sent.status_code == 200, sent.json
    first = _email_row(world, sent.json["email_id"])
    assert "REP EDITED THIS" in first.body_html and first.subject == "My own subject"
    world.send(first.id)
    follow = _email_row(world, world.scheduled_email(eid)["id"])
    assert "<p>Bumping this</p>" in follow.body_html
    assert "Campaign copy for Pat" in follow.body_html
    assert "REP EDITED THIS" not in follow.body_html
    assert follow.subject == "Re: Hello Pat"


def test_a_follow_up_email_task_carries_the_thread_for_the_compose_window(world: World):
    campaign = world.campaign([
        world.email_step(1, "at_time", time="09:00"),
        world.email_step(2, "task", follow_up=True),
    ], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    first = world.send_when_due(eid)
    task = world.task_for(eid)
    message_id = world.db_rows(Email, id=first["id"])[0].message_id
    assert task["email"]["thread"]["in_reply_to"] == message_id
    assert task["email"]["subject"] == "Re: " + first["subject"]


# ------------------------------------------------------------------ PATCH with active enrollments


def test_patching_a_campaign_never_changes_emails_already_sent(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:00", subject="Original {{ first_name }}"),
                               {"day": 2, "type": "call"}], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"], world.person(first_name="Pat"))
    sent = world.send_when_due(eid)
    steps = campaign["steps"]
    response = world.api.patch(f"/campaigns/{campaign['id']}", json={"steps": [
        {"id": steps[0]["id"], "day": 1, "type": "email", "send_option": "at_time", "time": "09:00",
         "subject": "Changed", "body_html": "<p>Changed</p>"},
        {"id": steps[1]["id"], "day": 2, "type": "call"}]})
    assert response.status_code == 200, response.json
    row = _email_row(world, sent["id"])
    assert row.subject == "Original Pat" and row.status == "sent"
    assert world.emails(eid, status="sent")[0]["subject"] == "Original Pat"


def test_steps_not_yet_current_use_the_patched_definition(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, world.email_step(2, "at_time", time="09:00")],
                              NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"], world.person(first_name="Pat"))
    steps = campaign["steps"]
    response = world.api.patch(f"/campaigns/{campaign['id']}", json={"steps": [
        {"id": steps[0]["id"], "day": 1, "type": "call"},
        {"id": steps[1]["id"], "day": 3, "type": "email", "send_option": "at_time", "time": "14:00",
         "subject": "New subject {{ first_name }}", "body_html": "<p>New</p>"}]})
    assert response.status_code == 200, response.json
    world.complete(world.task_for(eid)["id"])
    email = world.scheduled_email(eid)
    assert email["subject"] == "New subject Pat"
    assert iso(email["due_at"]) == local("2026-03-04", "14:00")


def test_a_removed_current_step_still_finishes_and_the_enrollment_moves_on(world: World):
    campaign = world.campaign([{"day": 1, "type": "call", "title": "Old call"}, {"day": 2, "type": "inmail"}],
                              NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    task = world.task_for(eid)
    inmail = campaign["steps"][1]
    response = world.api.patch(f"/campaigns/{campaign['id']}", json={"steps": [
        {"id": inmail["id"], "day": 2, "type": "inmail"}]})
    assert response.status_code == 200, response.json
    assert [s["id"] for s in response.json["steps"]] == [inmail["id"]]
    assert world.task_for(eid)["id"] == task["id"]  # the open task is still there
    world.complete(task["id"])
    nxt = world.task_for(eid)
    assert nxt["type"] == "inmail" and nxt["due_date"] == "2026-03-03"


def test_a_removed_scheduled_email_step_still_sends_and_then_the_enrollment_finishes(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:00"), {"day": 2, "type": "call"}],
                              NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    call = campaign["steps"][1]
    world.api.patch(f"/campaigns/{campaign['id']}", json={"steps": [{"id": call["id"], "day": 2, "type": "call"}]})
    world.send_when_due(eid)
    assert world.task_for(eid)["type"] == "call"
    world.complete(world.task_for(eid)["id"])
    assert world.enrollment(eid)["state"] == "finished"


def test_a_step_changed_after_launch_to_need_a_missing_field_refuses_to_advance_naming_it(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}, world.email_step(2, "at_time", time="09:00")],
                              NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    steps = campaign["steps"]
    world.api.patch(f"/campaigns/{campaign['id']}", json={"steps": [
        {"id": steps[0]["id"], "day": 1, "type": "call"},
        {"id": steps[1]["id"], "day": 2, "type": "email", "send_option": "at_time", "time": "09:00",
         "subject": "About {{ plan }}", "body_html": "<p>x</p>"}]})
    task = world.task_for(eid)
    response = world.api.post(f"/tasks/{task['id']}/complete")
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == "plan"
    # Nothing moved: the task is still open and no email exists.
    assert world.task_for(eid)["id"] == task["id"]
    assert world.db_rows(Email, enrollment_id=eid) == []


def test_a_follow_up_keeps_the_providers_thread_of_the_previous_email(world: World, app):
    campaign = world.campaign([world.email_step(1, "at_time", time="09:00"),
                               world.email_step(2, "at_time", time="09:00", follow_up=True)], NO_WEEKEND_SKIP)
    eid = world.launch_one(campaign["id"])
    first = world.scheduled_email(eid)
    with app.extensions["stepline_sessions"]() as session:  # what a Gmail/Graph send records
        session.get(Email, first["id"]).provider_thread_id = "thread-abc"
        session.commit()
    world.send_when_due(eid)
    assert _email_row(world, world.scheduled_email(eid)["id"]).provider_thread_id == "thread-abc"


def test_send_at_now_with_a_future_start_date_is_refused_naming_start_date(world: World):
    campaign = world.campaign([world.email_step(1, "choose_at_launch")])
    body = world.launch(campaign["id"], [world.person()], expect=422, send_at="now", start_date="2026-03-09")
    assert body["error"]["field"] == "start_date"
    assert world.db_rows(Enrollment) == []


def test_send_at_on_a_campaign_whose_first_step_is_a_task_is_refused(world: World):
    campaign = world.campaign([{"day": 1, "type": "call"}])
    body = world.launch(campaign["id"], [world.person()], expect=422, send_at="now")
    assert body["error"]["field"] == "send_at"
