"""Campaign validation (SPEC §3: 422 naming the step and the rule), settings defaults (§4),
and the timeline agreeing with the engine."""
from __future__ import annotations

import pytest
from tests.api.helpers import World, iso, local, world  # noqa: F401

CALL = {"day": 1, "type": "call"}


def email(day: int, option: str | None, **extra) -> dict:
    step = {"day": day, "type": "email", "subject": "Hi", "body_html": "<p>Hi</p>"}
    if option is not None:
        step["send_option"] = option
    return step | extra


def _post(world: World, steps: list[dict], settings: dict | None = None):
    body = {"name": "c", "steps": steps} | ({"settings": settings} if settings is not None else {})
    return world.api.post("/campaigns", json=body)


def _refused(world: World, steps: list[dict], field: str, *words: str, settings: dict | None = None) -> None:
    response = _post(world, steps, settings)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "invalid"
    assert error["field"] == field, error
    for word in words:
        assert word in error["message"], error


def test_follow_up_after_a_call_step_is_422_naming_the_step(world: World):
    _refused(world, [email(1, "at_time", time="09:00"), {"day": 2, "type": "call"},
                     email(3, "at_time", time="09:00", follow_up=True)], "steps[2].follow_up", "call")


@pytest.mark.parametrize("kind", ["inmail", "custom"])
def test_follow_up_after_an_inmail_or_custom_step_is_422(world: World, kind: str):
    _refused(world, [{"day": 1, "type": kind}, email(2, "task", follow_up=True)], "steps[1].follow_up", kind)


def test_follow_up_on_the_first_step_is_422(world: World):
    _refused(world, [email(1, "at_time", time="09:00", follow_up=True)], "steps[0].follow_up", "first step")


def test_follow_up_directly_after_an_email_step_is_accepted_with_any_option(world: World):
    for option, extra in (("at_time", {"time": "10:00"}), ("same_time_as_previous", {}), ("task", {})):
        response = _post(world, [email(1, "at_time", time="09:00"), email(2, option, follow_up=True, **extra)])
        assert response.status_code == 201, response.json


def test_follow_up_is_judged_on_the_step_order_not_the_request_order(world: World):
    # Listed first but on day 3: directly after the day-2 call, so refused with its request index.
    _refused(world, [email(3, "task", follow_up=True), email(1, "at_time", time="09:00"), {"day": 2, "type": "call"}],
             "steps[0].follow_up")


def test_choose_at_launch_anywhere_but_the_first_step_is_422(world: World):
    _refused(world, [email(1, "at_time", time="09:00"), email(2, "choose_at_launch")], "steps[1].send_option",
             "choose_at_launch")
    _refused(world, [CALL, email(1, "choose_at_launch")], "steps[1].send_option", "choose_at_launch")


def test_choose_at_launch_on_a_first_step_that_is_not_on_day_1_is_422(world: World):
    _refused(world, [email(2, "choose_at_launch")], "steps[0].send_option", "day 1")


def test_same_time_as_previous_on_the_first_step_is_422(world: World):
    _refused(world, [email(1, "same_time_as_previous")], "steps[0].send_option", "same_time_as_previous")


def test_at_time_without_a_time_is_422(world: World):
    _refused(world, [email(1, "at_time")], "steps[0].time")


def test_an_email_step_without_a_send_option_is_422(world: World):
    _refused(world, [email(1, None)], "steps[0].send_option")


def test_a_send_option_on_a_call_step_is_422(world: World):
    _refused(world, [{"day": 1, "type": "call", "send_option": "task"}], "steps[0].send_option")


def test_an_email_step_without_content_is_422(world: World):
    _refused(world, [{"day": 1, "type": "email", "send_option": "task"}], "steps[0].template_id")


def test_an_unknown_template_is_422_naming_the_step(world: World):
    _refused(world, [CALL, {"day": 2, "type": "email", "send_option": "task", "template_id": 9999}],
             "steps[1].template_id")


def test_a_template_syntax_error_in_a_step_is_422(world: World):
    _refused(world, [email(1, "task", body_html="<p>{{ first_name </p>")], "steps[0].body_html", "syntax")


def test_day_zero_and_an_unknown_step_type_are_422(world: World):
    _refused(world, [{"day": 0, "type": "call"}], "steps[0].day")
    _refused(world, [{"day": 1, "type": "fax"}], "steps[0].type")


def test_a_campaign_without_steps_is_422(world: World):
    _refused(world, [], "steps")


def test_steps_are_numbered_by_position_within_their_day_in_list_order(world: World):
    response = _post(world, [{"day": 3, "type": "call"}, email(1, "at_time", time="09:00"),
                             {"day": 1, "type": "inmail"}, {"day": 3, "type": "custom"}])
    assert response.status_code == 201, response.json
    got = [(s["day"], s["position"], s["type"]) for s in response.json["steps"]]
    assert got == [(1, 1, "email"), (1, 2, "inmail"), (3, 1, "call"), (3, 2, "custom")]


def test_settings_have_the_spec_defaults(world: World):
    response = _post(world, [CALL])
    assert response.status_code == 201
    settings = response.json["settings"]
    assert settings["skip_weekends"] is True
    assert settings["holidays"] is None
    assert settings["remove_on_bounce"] is True
    assert settings["on_reply"] == "end"
    assert settings["ignore_auto_replies"] is True
    assert settings["timezone"] == "sender"
    assert settings["send_window"] is None


def test_settings_can_be_set_and_read_back(world: World):
    response = _post(world, [CALL], {"skip_weekends": False, "holidays": "us", "remove_on_bounce": False,
                                     "on_reply": "end_success", "ignore_auto_replies": False,
                                     "timezone": "recipient", "send_window": {"start": "08:00", "end": "18:00"}})
    assert response.status_code == 201, response.json
    assert response.json["settings"] | {} == response.json["settings"]
    got = world.api.get(f"/campaigns/{response.json['id']}").json["settings"]
    assert got["holidays"] == "US" and got["on_reply"] == "end_success" and got["timezone"] == "recipient"
    assert got["send_window"] == {"start": "08:00", "end": "18:00"}
    assert got["skip_weekends"] is False and got["remove_on_bounce"] is False


@pytest.mark.parametrize("settings,field", [
    ({"holidays": "XX"}, "settings.holidays"),
    ({"on_reply": "ignore"}, "settings.on_reply"),
    ({"timezone": "mars"}, "settings.timezone"),
    ({"send_window": {"start": "18:00", "end": "08:00"}}, "settings.send_window"),
    ({"send_window": {"start": "25:00", "end": "08:00"}}, "settings.send_window.start"),
    ({"skip_weekends": "yes please"}, "settings.skip_weekends"),
    ({"colour": "blue"}, "settings.colour"),
])
def test_bad_settings_are_422_naming_the_setting(world: World, settings: dict, field: str):
    _refused(world, [CALL], field, settings=settings)


def test_a_patch_with_an_invalid_step_list_changes_nothing(world: World):
    campaign = world.campaign([email(1, "at_time", time="09:00"), email(2, "task")])
    response = world.api.patch(f"/campaigns/{campaign['id']}", json={
        "name": "renamed", "steps": [{"day": 1, "type": "call"}, email(2, "task", follow_up=True)]})
    assert response.status_code == 422 and response.json["error"]["field"] == "steps[1].follow_up"
    again = world.api.get(f"/campaigns/{campaign['id']}").json
    assert again["name"] == campaign["name"]
    assert [s["id"] for s in again["steps"]] == [s["id"] for s in campaign["steps"]]


def test_a_patch_naming_a_step_of_another_campaign_is_422(world: World):
    one = world.campaign([CALL])
    two = world.campaign([CALL])
    response = world.api.patch(f"/campaigns/{one['id']}", json={
        "steps": [{"id": two["steps"][0]["id"], "day": 1, "type": "call"}]})
    assert response.status_code == 422 and response.json["error"]["field"] == "steps[0].id"


def test_unknown_campaign_is_404_for_get_patch_timeline_and_launch(world: World):
    for response in (world.api.get("/campaigns/777"), world.api.patch("/campaigns/777", json={"name": "x"}),
                     world.api.get("/campaigns/777/timeline", query_string={"start": "2026-03-02T08:00:00-05:00"}),
                     world.api.post("/campaigns/777/launch", json={"people": [1]})):
        assert response.status_code == 404, response.json
        assert response.json["error"]["code"] == "not_found"


def test_the_timeline_matches_what_the_engine_then_does(world: World):
    campaign = world.campaign([email(1, "at_time", time="09:30"), email(3, "same_time_as_previous", follow_up=True),
                               {"day": 4, "type": "call"}, email(6, "task")])
    timeline = world.api.get(f"/campaigns/{campaign['id']}/timeline",
                             query_string={"start": "2026-03-02T08:00:00-05:00", "timezone": "America/New_York"})
    assert timeline.status_code == 200, timeline.json
    planned = timeline.json["steps"]
    assert [(p["date"], p["kind"]) for p in planned] == [
        ("2026-03-02", "email"), ("2026-03-04", "email"), ("2026-03-05", "task"), ("2026-03-09", "task")]
    eid = world.launch_one(campaign["id"])
    first = world.send_when_due(eid)
    assert iso(first["due_at"]) == iso(planned[0]["at"])
    second = world.send_when_due(eid)
    assert iso(second["due_at"]) == iso(planned[1]["at"]) == local("2026-03-04", "09:30")
    world.at(local("2026-03-05", "08:00"))
    call = world.task_for(eid)
    assert call["due_date"] == planned[2]["date"]
    world.complete(call["id"])
    assert world.task_for(eid)["due_date"] == planned[3]["date"]


def test_the_timeline_of_choose_at_launch_has_no_instant_without_send_at(world: World):
    campaign = world.campaign([email(1, "choose_at_launch"), email(2, "same_time_as_previous")])
    planned = world.api.get(f"/campaigns/{campaign['id']}/timeline",
                            query_string={"start": "2026-03-02T08:00:00-05:00"}).json["steps"]
    assert [p["at"] for p in planned] == [None, None]
    with_send_at = world.api.get(f"/campaigns/{campaign['id']}/timeline", query_string={
        "start": "2026-03-02T08:00:00-05:00", "send_at": "2026-03-02T10:00:00-05:00"}).json["steps"]
    assert iso(with_send_at[0]["at"]) == local("2026-03-02", "10:00")
    assert iso(with_send_at[1]["at"]) == local("2026-03-03", "10:00")


def test_the_timeline_refuses_an_unknown_zone_and_a_naive_start(world: World):
    campaign = world.campaign([CALL])
    bad_zone = world.api.get(f"/campaigns/{campaign['id']}/timeline",
                             query_string={"start": "2026-03-02T08:00:00-05:00", "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 422 and bad_zone.json["error"]["field"] == "timezone"
    naive = world.api.get(f"/campaigns/{campaign['id']}/timeline", query_string={"start": "2026-03-02T08:00:00"})
    assert naive.status_code == 422 and naive.json["error"]["field"] == "start"
