"""Access: every /api/v1 route but health and the OpenAPI document needs a token; a rep sees
and changes only their own enrollments, tasks and emails (404 for another rep's), an admin
sees everything."""
from __future__ import annotations

import re

import pytest

from tests.conftest import Api


@pytest.fixture
def team(app, make_user, make_mailbox, make_person, make_campaign, make_template):
    """Two reps, each with an enrollment holding an open email task and a scheduled email."""
    admin = make_user("boss@example.com", role="admin")
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    campaign = make_campaign(admin, [
        {"day": 1, "type": "email", "subject": "Hi {{ first_name }}", "body_html": "<p>Hi</p>", "send_option": "task"},
        {"day": 2, "type": "call"}])
    sends = make_campaign(admin, [
        {"day": 1, "type": "email", "subject": "Hi", "body_html": "<p>Hi</p>", "send_option": "at_time",
         "time": "09:30"}])
    data = {}
    for name, api in (("alice", alice), ("bob", bob)):
        mailbox = make_mailbox(api)
        person = make_person(api)
        enrolled = api.post(f"/campaigns/{campaign['id']}/launch",
                            json={"people": [person], "mailbox_id": mailbox}).json["enrolled"]
        emailed = api.post(f"/campaigns/{sends['id']}/launch",
                           json={"people": [person], "mailbox_id": mailbox}).json["enrolled"]
        task = api.get("/tasks").json["tasks"][0]
        email = api.get("/emails").json["emails"][0]
        data[name] = {"api": api, "enrollment": enrolled[0]["enrollment_id"],
                      "email_enrollment": emailed[0]["enrollment_id"], "task": task["id"], "email": email["id"]}
    data["admin"] = {"api": admin}
    return data


def _not_found(response) -> None:
    assert response.status_code == 404, (response.status_code, response.json)
    assert set(response.json["error"]) == {"code", "message", "field"}
    assert response.json["error"]["code"] == "not_found"


def test_a_rep_gets_404_for_another_reps_enrollment_on_get_and_every_action(team):
    alice, bob = team["alice"]["api"], team["bob"]
    _not_found(alice.get(f"/enrollments/{bob['enrollment']}"))
    for action in ("pause", "resume", "remove"):
        _not_found(alice.post(f"/enrollments/{bob['enrollment']}/{action}"))
    assert bob["api"].get(f"/enrollments/{bob['enrollment']}").json["state"] == "active"


def test_a_rep_gets_404_for_another_reps_task_on_get_and_every_action(team):
    alice, bob = team["alice"]["api"], team["bob"]
    _not_found(alice.get(f"/tasks/{bob['task']}"))
    for action, body in (("complete", None), ("skip", None), ("send", {"subject": "x"})):
        _not_found(alice.post(f"/tasks/{bob['task']}/{action}", json=body or {}))
    assert bob["api"].get(f"/tasks/{bob['task']}").json["status"] == "open"


def test_a_rep_gets_404_for_another_reps_email_retry(team):
    _not_found(team["alice"]["api"].post(f"/emails/{team['bob']['email']}/retry"))


def test_a_reps_task_and_email_lists_show_only_their_own(team):
    for me, other in (("alice", "bob"), ("bob", "alice")):
        api = team[me]["api"]
        tasks = api.get("/tasks", query_string={"status": "all"}).json["tasks"]
        assert [t["id"] for t in tasks] == [team[me]["task"]]
        emails = api.get("/emails").json["emails"]
        assert [e["id"] for e in emails] == [team[me]["email"]]
        enrollments = {e["id"] for e in api.get("/enrollments").json["enrollments"]}
        assert enrollments == {team[me]["enrollment"], team[me]["email_enrollment"]}
        events = api.get("/events").json["events"]
        assert {e["enrollment_id"] for e in events if e["enrollment_id"]} == enrollments


def test_an_admin_sees_and_acts_on_everyones_enrollments_and_emails(team):
    admin = team["admin"]["api"]
    emails = {e["id"] for e in admin.get("/emails").json["emails"]}
    assert emails == {team["alice"]["email"], team["bob"]["email"]}
    assert len(admin.get("/enrollments").json["enrollments"]) == 4
    assert admin.get(f"/enrollments/{team['bob']['enrollment']}").status_code == 200
    assert admin.get(f"/tasks/{team['bob']['task']}").status_code == 200
    assert admin.post(f"/enrollments/{team['bob']['enrollment']}/pause").json["state"] == "paused"
    assert admin.post(f"/enrollments/{team['bob']['enrollment']}/resume").json["state"] == "active"


def test_an_admin_completing_a_reps_task_advances_that_reps_enrollment(team):
    admin, bob = team["admin"]["api"], team["bob"]
    assert admin.post(f"/tasks/{bob['task']}/skip").status_code == 200
    assert [t["type"] for t in bob["api"].get("/tasks").json["tasks"]] == ["call"]


def _api_routes(app) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)))
    return routes


def test_every_api_route_but_health_and_openapi_needs_a_token(app):
    client = app.test_client()
    routes = _api_routes(app)
    assert len(routes) > 15
    public = {"/api/v1/health", "/api/v1/openapi.json"}
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer stp_not_a_real_token"}, {"Authorization": "Basic abc"}):
            response = client.open(path, method=method, headers=headers, json={})
            if path in public:
                assert response.status_code == 200, path
                continue
            assert response.status_code == 401, (method, path, headers, response.status_code)
            assert response.is_json
            assert set(response.json) == {"error"}, response.json
            assert response.json["error"]["code"] == "unauthorized"
            assert response.json["error"]["field"] == "Authorization"


def test_health_and_openapi_answer_without_a_token(app):
    client = app.test_client()
    assert client.get("/api/v1/health").json == {"status": "ok"}
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    for path in ("/api/v1/campaigns", "/api/v1/campaigns/{campaign_id}/launch", "/api/v1/tasks",
                 "/api/v1/emails", "/api/v1/enrollments/{enrollment_id}"):
        assert path in document["paths"], path


def test_a_token_is_stored_hashed(app, rep: Api):
    from sqlalchemy import select

    from server.models import ApiToken

    with app.extensions["stepline_sessions"]() as session:
        stored = list(session.scalars(select(ApiToken.token_hash)))
    assert rep.token not in stored and len(stored[0]) == 64
