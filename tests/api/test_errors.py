"""Error paths: malformed JSON, wrong types and out-of-range values get a 4xx JSON error
``{"error": {"code", "message", "field"}}`` naming the field, and nothing is half-written."""
from __future__ import annotations

import pytest
from tests.api.helpers import World, world  # noqa: F401

from server.models import Campaign, Enrollment, Person, Step

BODY_ENDPOINTS = [
    ("post", "/mailboxes"), ("post", "/templates"), ("post", "/people"), ("post", "/people/bulk"),
    ("post", "/campaigns"), ("patch", "/campaigns/{campaign}"), ("post", "/campaigns/{campaign}/launch"),
    ("post", "/tasks/{task}/send"),
]


@pytest.fixture
def ids(world: World) -> dict:
    campaign = world.campaign([world.email_step(1, "task"), {"day": 2, "type": "call"}])
    eid = world.launch_one(campaign["id"])
    return {"campaign": campaign["id"], "task": world.task_for(eid)["id"], "enrollment": eid}


def _error(response, status: int | tuple = (400, 422), field: str | None = "any") -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.is_json
    error = response.json["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert error["message"]
    if field != "any":
        assert error["field"] == field, error
    return error


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_malformed_json_is_a_400_json_error_on_every_body_endpoint(world: World, ids, method, path):
    url = "/api/v1" + path.format(**ids)
    headers = {"Authorization": f"Bearer {world.api.token}"}
    for raw in ('{"name": ', "[1, 2", "nul", "\xff\xfe"):
        response = getattr(world.api.client, method)(url, data=raw, content_type="application/json",
                                                     headers=headers)
        _error(response, (400, 422))


@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_a_json_array_or_string_instead_of_an_object_is_4xx(world: World, ids, method, path):
    for body in ([1, 2], "text", 7):
        response = getattr(world.api, method)(path.format(**ids), json=body)
        _error(response, (400, 422))


@pytest.mark.parametrize("body,field", [
    ({"name": "x"}, "steps"),
    ({"steps": [{"day": 1, "type": "call"}]}, "name"),
    ({"name": 5, "steps": [{"day": 1, "type": "call"}]}, "name"),
    ({"name": "x", "steps": "call"}, "steps"),
    ({"name": "x", "steps": [{"day": "one", "type": "call"}]}, "steps[0].day"),
    ({"name": "x", "steps": [{"day": 1.5, "type": "call"}]}, "steps[0].day"),
    ({"name": "x", "steps": [{"day": 1, "type": "call"}, {"day": 400, "type": "call"}]}, "steps[1].day"),
    ({"name": "x", "steps": [{"day": 1, "type": "email", "subject": "s", "body_html": "b",
                              "send_option": "at_time", "time": "9.30"}]}, "steps[0].time"),
    ({"name": "x", "steps": [{"day": 1, "type": "call", "follow_up": "maybe"}]}, "steps[0].follow_up"),
    ({"name": "x", "steps": [{"day": 1, "type": "call", "template_id": 2**70}]}, "steps[0].template_id"),
    ({"name": "x", "steps": [{"day": 1, "type": "call", "priority": "urgent"}]}, "steps[0].priority"),
    ({"name": "x", "settings": [], "steps": [{"day": 1, "type": "call"}]}, "settings"),
    ({"name": "x", "settings": {"send_window": {"start": "8"}}, "steps": [{"day": 1, "type": "call"}]},
     "settings.send_window.start"),
    ({"name": "", "steps": [{"day": 1, "type": "call"}]}, "name"),
])
def test_bad_campaign_bodies_are_422_naming_the_field_and_write_nothing(world: World, body, field):
    _error(world.api.post("/campaigns", json=body), 422, field)
    assert world.db_rows(Campaign) == [] and world.db_rows(Step) == []


@pytest.mark.parametrize("body,field", [
    ({}, "people"),
    ({"people": []}, "people"),
    ({"people": "1,2"}, "people"),
    ({"people": [1], "mailbox_id": "mine"}, "mailbox_id"),
    ({"people": [1], "mailbox_id": 2**64}, "mailbox_id"),
    ({"people": [1], "start_date": "next monday"}, "start_date"),
    ({"people": [1], "start_date": "2026-02-30"}, "start_date"),
    ({"people": [1], "send_at": 12}, "send_at"),
    ({"people": [1], "step_times": ["09:00"]}, "step_times"),
    ({"people": list(range(1, 10_002))}, "people"),
])
def test_bad_launch_bodies_are_422_naming_the_field_and_write_nothing(world: World, ids, body, field):
    before = len(world.db_rows(Enrollment))
    _error(world.api.post(f"/campaigns/{ids['campaign']}/launch", json=body), 422, field)
    assert len(world.db_rows(Enrollment)) == before


def test_a_bulk_launch_with_some_bad_ids_writes_exactly_the_good_ones(world: World):
    campaign = world.campaign([world.email_step(1, "at_time", time="10:00")])
    good = [world.person() for _ in range(5)]
    result = world.launch(campaign["id"], [good[0], -1, good[1], 0, "7", None, 2**70, good[2], 10**6,
                                           good[3], 3.5, good[4]])
    assert sorted(e["person_id"] for e in result["enrolled"]) == sorted(good)
    assert len(result["refused"]) == 7
    assert sorted(e.person_id for e in world.db_rows(Enrollment)) == sorted(good)


@pytest.mark.parametrize("body,field", [
    ({"subject": ""}, "subject"),
    ({"subject": 5}, "subject"),
    ({"body_html": ["x"]}, "body_html"),
    ({"send_at": "tomorrow"}, "send_at"),
    ({"send_at": "2026-03-03T10:00:00"}, "send_at"),
])
def test_bad_task_send_bodies_are_422_naming_the_field_and_leave_the_task_open(world: World, ids, body, field):
    _error(world.api.post(f"/tasks/{ids['task']}/send", json=body), 422, field)
    assert world.api.get(f"/tasks/{ids['task']}").json["status"] == "open"


@pytest.mark.parametrize("query,field", [
    ({"status": "done"}, "status"), ({"due": "yesterday"}, "due"), ({"limit": 0}, "limit"),
    ({"limit": "many"}, "limit"), ({"offset": -1}, "offset"), ({"offset": 2**70}, "offset"),
])
def test_bad_task_list_queries_are_422_naming_the_parameter(world: World, query, field):
    _error(world.api.get("/tasks", query_string=query), 422, field)


@pytest.mark.parametrize("body,field", [
    ({"email": "not an address"}, "email"),
    ({"email": "a@b.example", "timezone": "Mars/Base"}, "timezone"),
    ({"email": "a@b.example", "first_name": 3}, "first_name"),
    ({"email": "a@b.example", "fields": {"plan": {"nested": 1}}}, "fields.plan"),
    ({"email": "a@b.example", "fields": ["x"]}, "fields"),
])
def test_bad_people_are_422_naming_the_field(world: World, body, field):
    _error(world.api.post("/people", json=body), 422, field)
    assert world.db_rows(Person) == []


def test_a_duplicate_person_is_409(world: World):
    world.person(email="dup@prospect.example")
    _error(world.api.post("/people", json={"email": "DUP@prospect.example"}), 409, "email")


def test_bulk_people_create_the_valid_ones_and_report_the_others_by_index(world: World):
    response = world.api.post("/people/bulk", json={"people": [
        {"email": "ok1@p.example"}, {"email": "bad"}, "not an object", {"email": "ok2@p.example"},
        {"email": "OK1@p.example"}, {"email": "ok3@p.example", "timezone": "Nowhere/Land"}]})
    assert response.status_code == 200, response.json
    assert len(response.json["created"]) == 2
    assert [(e["index"], e["field"]) for e in response.json["errors"]] == [
        (1, "email"), (2, None), (4, "email"), (5, "timezone")]
    assert sorted(p.email for p in world.db_rows(Person)) == ["ok1@p.example", "ok2@p.example"]


def test_unknown_ids_in_paths_are_json_404s(world: World):
    for path in ("/enrollments/999", "/tasks/999", "/campaigns/999", "/people/999", "/templates/999",
                 f"/tasks/{2**70}", "/nowhere"):
        _error(world.api.get(path), 404)
    for path in ("/enrollments/999/pause", "/tasks/999/complete", "/emails/999/retry"):
        _error(world.api.post(path), 404)


def test_a_wrong_method_is_a_json_405(world: World):
    _error(world.api.client.delete("/api/v1/campaigns", headers={"Authorization": f"Bearer {world.api.token}"}),
           405)


def test_out_of_range_query_parameters_outside_the_openapi_document_are_422(world: World):
    for path, query, field in (("/people", {"limit": -5}, "limit"), ("/people", {"limit": "x"}, "limit"),
                               ("/enrollments", {"campaign_id": str(2**40)}, "campaign_id"),
                               ("/enrollments", {"person_id": "-1"}, "person_id")):
        _error(world.api.get(path, query_string=query), 422, field)


def test_dates_and_instants_outside_2000_to_2099_are_422_not_a_calendar_overflow(world: World):
    c = world.campaign([{"day": 1, "type": "call"}, {"day": 300, "type": "call"}])
    for query, field in (({"start": "9999-12-31T00:00:00+00:00"}, "start"),
                         ({"start": "0001-01-01T00:00:00+00:00"}, "start"),
                         ({"start": "2026-03-02T08:00:00-05:00", "start_date": "9999-12-31"}, "start_date"),
                         ({"start": "2026-03-02T08:00:00-05:00", "send_at": "9999-12-31T23:59:00-12:00"}, "send_at")):
        _error(world.api.get(f"/campaigns/{c['id']}/timeline", query_string=query), 422, field)
    for body, field in (({"start_date": "9999-12-31"}, "start_date"), ({"start_date": "0001-01-01"}, "start_date")):
        _error(world.api.post(f"/campaigns/{c['id']}/launch", json={"people": [world.person()]} | body), 422, field)
    email = world.campaign([world.email_step(1, "choose_at_launch")])
    for send_at in ("9999-12-31T23:59:00-12:00", "0001-01-01T00:00:00+14:00", "2150-01-01T00:00:00Z"):
        _error(world.api.post(f"/campaigns/{email['id']}/launch", json={
            "people": [world.person()], "mailbox_id": world.mailbox_id, "send_at": send_at}), 422, "send_at")
    task_campaign = world.campaign([world.email_step(1, "task")])
    eid = world.launch_one(task_campaign["id"])
    _error(world.api.post(f"/tasks/{world.task_for(eid)['id']}/send", json={"send_at": "9999-12-31T23:59:00-12:00"}),
           422, "send_at")
    assert world.db_rows(Enrollment, campaign_id=email["id"]) == []


def test_text_with_a_nul_character_is_refused_with_422_naming_the_field(admin):
    """PostgreSQL cannot store NUL; every entry point refuses it before any service runs."""
    response = admin.post("/templates", json={"name": "n", "subject": "s", "body_html": "a\u0000b"})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "body_html"
    nested = admin.post("/campaigns", json={"name": "c", "steps": [{"day": 1, "type": "call", "notes": "\u0000"}]})
    assert nested.status_code == 422 and nested.json["error"]["field"] == "steps[0].notes"
    query = admin.get("/people?q=%00")
    assert query.status_code == 422 and query.json["error"]["field"] == "q"
    assert admin.get("/templates").json["templates"] == []


def test_a_mailbox_display_name_longer_than_the_database_allows_is_a_422(admin):
    response = admin.post("/mailboxes", json={"provider": "smtp", "address": "a@sales.example", "smtp_host": "h",
                                              "display_name": "x" * 500})
    assert response.status_code == 422 and response.json["error"]["field"] == "display_name"
